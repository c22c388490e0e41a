// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package emitted reproduces the log records that contrib receivers this
// machine's registry does not serve (awsfirehose, webhookevent, with the
// encoding extensions a CloudTrail user pairs them with) hand to the next
// consumer, as their README and source at v0.155.0 describe them. End-to-end
// tests send exactly these records to the built collector over OTLP. It is
// test support, not a receiver: no HTTP, no access key, no acknowledgement.
package emitted // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/emitted"

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// firehoseRecords decodes a Firehose HTTP endpoint delivery request body as
// awsfirehose does: each record's data base64-decoded, then gunzipped when it
// starts with the gzip magic (the receiver does this itself since v0.152.0).
// An error is what the receiver answers with HTTP 400, and then nothing of
// the request reaches the pipeline.
func firehoseRecords(body []byte) ([][]byte, error) {
	var req struct {
		RequestID string `json:"requestId"`
		Records   []struct {
			Data string `json:"data"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.RequestID == "" {
		return nil, errors.New("missing request id in body")
	}
	var out [][]byte
	for i, r := range req.Records {
		data, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			return nil, fmt.Errorf("unable to base64 decode the record at index %d: %w", i, err)
		}
		if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("failed to decompress record: %w", err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				return nil, fmt.Errorf("failed to decompress record: %w", err)
			}
		}
		out = append(out, data)
	}
	return out, nil
}

var newline = regexp.MustCompile(`\r?\n`)

// FirehoseText is awsfirehose with `encoding: text_encoding` (its default
// unmarshaling_separator, \r?\n): one record per line of each Firehose
// record, the line as body, observed now. An EventBridge event is one
// record; a CloudWatch Logs payload (gunzipped by the receiver) is one
// record whose body is the whole DATA_MESSAGE.
func FirehoseText(body []byte, now time.Time) (plog.Logs, error) {
	records, err := firehoseRecords(body)
	if err != nil {
		return plog.Logs{}, err
	}
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range records {
		for _, line := range newline.Split(string(r), -1) {
			if line == "" {
				continue
			}
			lr := lrs.AppendEmpty()
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
			lr.Body().SetStr(line)
		}
	}
	return ld, nil
}

// FirehoseCloudWatch is awsfirehose with `encoding: awslogs_encoding`
// (`format: cloudwatch`), the decoder that works at v0.155.0 (the built-in
// cwlogs encoding gunzips a second time and fails, contrib #50783): per
// DATA_MESSAGE a resource with the owner's account and the log group and
// stream, and a record per log event with its message as body and its time.
// A CONTROL_MESSAGE yields nothing.
func FirehoseCloudWatch(body []byte) (plog.Logs, error) {
	records, err := firehoseRecords(body)
	if err != nil {
		return plog.Logs{}, err
	}
	ld := plog.NewLogs()
	for _, r := range records {
		var p struct {
			MessageType string `json:"messageType"`
			Owner       string `json:"owner"`
			LogGroup    string `json:"logGroup"`
			LogStream   string `json:"logStream"`
			LogEvents   []struct {
				Timestamp int64  `json:"timestamp"`
				Message   string `json:"message"`
			} `json:"logEvents"`
		}
		if err := json.Unmarshal(r, &p); err != nil {
			return plog.Logs{}, fmt.Errorf("invalid cloudwatch log: %w", err)
		}
		if p.MessageType == "CONTROL_MESSAGE" {
			continue
		}
		if p.Owner == "" || p.LogGroup == "" || p.LogStream == "" {
			return plog.Logs{}, errors.New("invalid cloudwatch log: owner, logGroup and logStream are required")
		}
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		res.PutStr("cloud.provider", "aws")
		res.PutStr("cloud.account.id", p.Owner)
		res.PutEmptySlice("aws.log.group.names").AppendEmpty().SetStr(p.LogGroup)
		res.PutEmptySlice("aws.log.stream.names").AppendEmpty().SetStr(p.LogStream)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().Attributes().PutStr("encoding.format", "aws.cloudwatch")
		for _, e := range p.LogEvents {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.UnixMilli(e.Timestamp)))
			lr.Body().SetStr(e.Message)
		}
	}
	return ld, nil
}

// Webhook is the webhookevent receiver: the request body as one record (no
// split option set), observed now, in its scope, with the URL's query
// parameters as resource attributes. An EventBridge API destination POSTs
// one event per request.
func Webhook(body []byte, query url.Values, now time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for k, v := range query {
		if len(v) > 0 && v[0] != "" {
			rl.Resource().Attributes().PutStr(k, v[0])
		}
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("otlp/webhookevent")
	sl.Scope().Attributes().PutStr("source", "webhookevent")
	sl.Scope().Attributes().PutStr("receiver", "webhookevent")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	lr.Body().SetStr(string(body))
	return ld
}
