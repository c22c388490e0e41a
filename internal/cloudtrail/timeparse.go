// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import "time"

// Layouts CloudTrail times arrive in: ISO 8601 from AWS and Elastic, and the
// space-separated UTC form some SIEM exports (Panther) write.
var timeLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999", // ISO without zone: UTC, as CloudTrail means it
}

// ParseTime parses an event time; ok is false when no layout fits.
func ParseTime(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05") || len(s) > 40 {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
