// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package shapes // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/shapes"

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The formats AWS delivers CloudTrail in, as AWS documents them: the S3 log
// file, the EventBridge event, the CloudWatch Logs subscription payload and
// the Firehose HTTP endpoint request.

// S3Object is a CloudTrail log file as CloudTrail writes it to S3.
func S3Object(raws [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	b.Write(bytes.Join(raws, []byte(",")))
	b.WriteString(`]}`)
	return b.Bytes()
}

// header is the part of a CloudTrail event a wrapper is made from.
type header struct {
	EventID            string `json:"eventID"`
	EventTime          string `json:"eventTime"`
	EventSource        string `json:"eventSource"`
	EventType          string `json:"eventType"`
	AWSRegion          string `json:"awsRegion"`
	RecipientAccountID string `json:"recipientAccountId"`
}

func readHeader(raw []byte) (header, error) {
	var h header
	err := json.Unmarshal(raw, &h)
	return h, err
}

// EventBridgeEvent wraps a CloudTrail event as EventBridge delivers it to a
// rule's targets: the event itself is the detail, unchanged.
func EventBridgeEvent(raw []byte) ([]byte, error) {
	h, err := readHeader(raw)
	if err != nil {
		return nil, err
	}
	detailType := "AWS API Call via CloudTrail"
	switch h.EventType {
	case "AwsConsoleSignIn":
		detailType = "AWS Console Sign In via CloudTrail"
	case "AwsServiceEvent":
		detailType = "AWS Service Event via CloudTrail"
	}
	return marshal(struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Time       string          `json:"time"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}{"0", uuid("eventbridge", h.EventID), detailType, "aws." + strings.TrimSuffix(h.EventSource, ".amazonaws.com"),
		h.RecipientAccountID, h.EventTime, h.AWSRegion, []string{}, raw})
}

// CWLogsPayload is what a CloudWatch Logs subscription filter sends for the
// events a trail wrote to its log group (uncompressed; AWS gzips it).
func CWLogsPayload(raws [][]byte) ([]byte, error) {
	type logEvent struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	var events []logEvent
	var account, region string
	for _, raw := range raws {
		h, err := readHeader(raw)
		if err != nil {
			return nil, err
		}
		if account == "" {
			account, region = h.RecipientAccountID, h.AWSRegion
		}
		t, err := time.Parse(time.RFC3339, h.EventTime)
		if err != nil {
			return nil, err
		}
		// CloudTrail writes an event to the log group a little after it happened.
		ms := t.Add(2*time.Minute + 173*time.Millisecond).UnixMilli()
		sum := sha256.Sum256([]byte("cwlogs" + h.EventID))
		id := fmt.Sprintf("%020d%020d%016d", binary.BigEndian.Uint64(sum[:8])%1e19, binary.BigEndian.Uint64(sum[8:16])%1e19, ms)
		events = append(events, logEvent{ID: id, Timestamp: ms, Message: string(raw)})
	}
	return marshal(struct {
		MessageType         string     `json:"messageType"`
		Owner               string     `json:"owner"`
		LogGroup            string     `json:"logGroup"`
		LogStream           string     `json:"logStream"`
		SubscriptionFilters []string   `json:"subscriptionFilters"`
		LogEvents           []logEvent `json:"logEvents"`
	}{"DATA_MESSAGE", account, "aws-cloudtrail-logs-" + account + "-4e1f0c2a", account + "_CloudTrail_" + region,
		[]string{"cloudtrail-to-firehose"}, events})
}

// CWLogsControl is the message CloudWatch Logs sends to check a destination.
func CWLogsControl() []byte {
	return []byte(`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"",` +
		`"subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1793610000000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`)
}

// FirehoseRequest is a Firehose HTTP endpoint delivery request: each record's
// data base64-encoded, gzipped first when the source compresses (CloudWatch
// Logs subscriptions do).
func FirehoseRequest(requestID string, at time.Time, records [][]byte, gzipped bool) ([]byte, error) {
	type record struct {
		Data string `json:"data"`
	}
	req := struct {
		RequestID string   `json:"requestId"`
		Timestamp int64    `json:"timestamp"`
		Records   []record `json:"records"`
	}{RequestID: requestID, Timestamp: at.UnixMilli()}
	for _, r := range records {
		if gzipped {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			if _, err := w.Write(r); err != nil {
				return nil, err
			}
			if err := w.Close(); err != nil {
				return nil, err
			}
			r = b.Bytes()
		}
		req.Records = append(req.Records, record{base64.StdEncoding.EncodeToString(r)})
	}
	return marshal(req)
}

// marshal writes JSON as AWS does: compact, without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// uuid is a deterministic version-4-shaped id, so outputs are stable.
func uuid(namespace, seed string) string {
	sum := sha256.Sum256([]byte(namespace + "\x00" + seed))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}
