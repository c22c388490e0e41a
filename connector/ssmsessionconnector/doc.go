// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package ssmsessionconnector counts AWS SSM StartSession calls from
// CloudTrail logs into metrics: Elastic's hunting query "SSM Start Remote
// Session to EC2 Instance" (7-day counts by target instance, user ARN, user
// type and outcome) as a live, windowed metric.
//
//go:generate make -C ../.. generate
package ssmsessionconnector // import "github.com/cloudtrail-detect/ssmsession/connector/ssmsessionconnector"
