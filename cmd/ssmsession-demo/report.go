// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"
)

type reportInfo struct {
	output, state string
	elapsed       time.Duration
	telemetry     map[string]float64
	keep          bool
}

// session is one tagged StartSession as the report shows it.
type session struct {
	at                            time.Time
	account, who, kind, ip        string
	target, source, terms         string
	newTerm, decided, viaFallback bool
	launch, document              string // what the alert says of the target, and the session's document
	recentLaunch                  bool   // the target was launched recently
}

// body is what the report reads from the untouched CloudTrail event.
type body struct {
	EventTime       string `json:"eventTime"`
	EventName       string `json:"eventName"`
	ErrorCode       string `json:"errorCode"`
	SourceIPAddress string `json:"sourceIPAddress"`
	UserIdentity    struct {
		Type string `json:"type"`
		ARN  string `json:"arn"`
	} `json:"userIdentity"`
	RequestParameters struct {
		Target string `json:"target"`
	} `json:"requestParameters"`
}

func report(w io.Writer, recs []plog.LogRecord, info reportInfo) {
	var tagged []session
	var failed []string
	for _, lr := range recs {
		var b body
		_ = json.Unmarshal([]byte(lr.Body().AsString()), &b)
		attrs := lr.Attributes()
		if _, ok := attrs.Get(ssmsessionprocessor.AttrRuleID); !ok {
			if b.EventName == "StartSession" && b.ErrorCode != "" {
				failed = append(failed, fmt.Sprintf("%s  %s -> %s: %s", clock(b.EventTime), shortARN(b.UserIdentity.ARN), b.RequestParameters.Target, b.ErrorCode))
			}
			continue
		}
		s := session{kind: b.UserIdentity.Type, ip: b.SourceIPAddress, who: shortARN(b.UserIdentity.ARN)}
		s.at, _ = time.Parse(time.RFC3339, b.EventTime)
		s.target = str(lr, ssmsessionprocessor.AttrTarget)
		s.source = str(lr, ssmsessionprocessor.AttrSourceInstance)
		s.launch, s.recentLaunch = launchNote(lr)
		s.document = str(lr, ssmsessionprocessor.AttrDocumentName)
		if v, ok := attrs.Get(ssmsessionprocessor.AttrNewTerm); ok {
			s.decided, s.newTerm = true, v.Bool()
		}
		if v, ok := attrs.Get(ssmsessionprocessor.AttrTerms); ok {
			var parts []string
			for i := 0; i < v.Slice().Len(); i++ {
				parts = append(parts, v.Slice().At(i).Str())
			}
			s.account = parts[0]
			s.terms = strings.Join(parts[1:], ", ")
			s.viaFallback = s.terms == str(lr, ssmsessionprocessor.AttrPrincipal)
		}
		tagged = append(tagged, s)
	}
	sort.SliceStable(tagged, func(i, j int) bool { return tagged[i].at.Before(tagged[j].at) })

	fmt.Fprintf(w, "\n%d events processed in %s; %d successful StartSession calls tagged rule.id=%s (%s).\n",
		len(recs), info.elapsed.Round(time.Millisecond), len(tagged), ssmsessionprocessor.RuleID, ssmsessionprocessor.RuleName)
	fmt.Fprintf(w, "\nNEW-TERM ALERTS: the first session of an identity (account + user.name) in %s of event time\n\n", "10 days")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN (UTC)\tACCOUNT\tIDENTITY (new_terms value)\tTARGET\tTARGET LAUNCHED\tWHY IT MATTERS")
	alerts := 0
	for _, s := range tagged {
		if !s.newTerm {
			continue
		}
		alerts++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.at.Format("2006-01-02 15:04:05"), s.account, s.terms, s.target, s.launch, why(s))
	}
	tw.Flush()
	if alerts == 0 {
		fmt.Fprintln(w, "  (none: every identity was already known from the state in", info.state+")")
	}
	fmt.Fprintln(w, "\nTARGET LAUNCHED answers the hunt's first question on the alert (ssmsession.target.recently_launched):")
	fmt.Fprintln(w, "an instance running for more than a day, reached by a new identity, is the one to investigate.")
	fresh := 0
	for _, s := range tagged {
		if s.recentLaunch {
			if fresh == 0 {
				fmt.Fprintln(w, "\nSessions on instances launched within the last day (ssmsession.target.launched_at):")
			}
			fresh++
			fmt.Fprintf(w, "  %s  %s -> %s, %s\n", s.at.Format("2006-01-02 15:04:05"), s.who, s.target, s.launch)
		}
	}
	if alerts > 0 {
		fmt.Fprintln(w, "\nThe first day's alerts are what a deployment without history raises: every identity is new to it.")
		fmt.Fprintln(w, "In production, set new_terms.learning_period (and backfill the archive) so the first days are learnt, not alerted;")
		fmt.Fprintln(w, "the demo leaves it off, as Elastic's rule does (README: First deployment).")
	}

	known := 0
	for _, s := range tagged {
		if s.decided && !s.newTerm {
			known++
		}
	}
	fmt.Fprintf(w, "\nNot alerted: %d sessions by identities already seen within the window", known)
	if len(tagged) > 0 {
		fmt.Fprintf(w, " (a new engineer in a known SSO role, the pipeline's daily port forwards, CloudTrail's late second delivery of an alerted event)")
	}
	fmt.Fprintln(w, ".")
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailed StartSession calls (not rule matches; counted by the hunt metric):\n")
		for _, f := range failed {
			fmt.Fprintln(w, "  "+f)
		}
	}

	t := info.telemetry
	fmt.Fprintf(w, "\nProcessor self-telemetry: %.0f records inspected, %.0f matched, %.0f new terms, %.0f malformed, %.0f S3 objects split, %.0f term states written.\n",
		t["otelcol_processor_ssmsession_records_inspected"], t["otelcol_processor_ssmsession_records_matched"],
		t["otelcol_processor_ssmsession_new_terms"], t["otelcol_processor_ssmsession_records_malformed"],
		t["otelcol_processor_ssmsession_envelopes_split"], t["otelcol_processor_ssmsession_storage_writes"])
	fmt.Fprintf(w, "\nTagged output (every record, OTLP JSON): %s\n", info.output)
	fmt.Fprintf(w, "First-seen state (file_storage):         %s\n", info.state)
	if !info.keep {
		fmt.Fprintln(w, "Run `go run ./cmd/ssmsession-demo -keep-state` to replay the same data on that state: no identity is alerted twice.")
	}
}

// launchNote is what an alert says of its target's launch.
func launchNote(lr plog.LogRecord) (note string, recent bool) {
	v, ok := lr.Attributes().Get(ssmsessionprocessor.AttrRecentLaunch)
	switch {
	case !ok:
		return "unknown yet", false
	case v.Bool():
		at, _ := time.Parse(time.RFC3339, str(lr, ssmsessionprocessor.AttrLaunchedAt))
		return "recently, at " + at.Format("15:04:05"), true
	}
	return "no: running > 24h", false
}

func why(s session) string {
	switch {
	case s.source != "":
		return "instance-to-instance: role credentials of " + s.source
	case s.viaFallback:
		return s.kind + " has no user.name: Elastic's rule never alerts on it"
	case s.kind == "IAMUser":
		return "IAM user, from " + s.ip
	case s.kind == "AssumedRole":
		return "role session, from " + s.ip
	}
	return s.kind
}

func str(lr plog.LogRecord, k string) string {
	if v, ok := lr.Attributes().Get(k); ok {
		return v.AsString()
	}
	return ""
}

// shortARN keeps what identifies the caller: user/x, assumed-role/r/s, root.
func shortARN(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func clock(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Format("2006-01-02 15:04:05")
	}
	return s
}
