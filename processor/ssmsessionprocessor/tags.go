// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"
	"github.com/cloudtrail-detect/ssmsession/internal/firstseen"
)

// The rule this processor implements: Elastic's "AWS SSM Session Started to
// EC2 Instance" (detection-rules, lateral_movement_aws_ssm_start_session_to_ec2_instance).
// Its severity and risk score are configured (rule::severity, rule::risk_score).
const (
	RuleID        = "804a7ac8-fc00-11ee-924b-f661ea17fbce"
	RuleName      = "AWS SSM Session Started to EC2 Instance"
	TacticID      = "TA0008"
	TacticName    = "Lateral Movement"
	TechniqueID   = "T1021"
	TechniqueName = "Remote Services"
	SubTechID     = "T1021.007"
	SubTechName   = "Cloud Services"
)

// Attribute keys the processor adds to matching records.
const (
	AttrRuleID         = "rule.id"
	AttrRuleName       = "rule.name"
	AttrRiskScore      = "event.risk_score"
	AttrSeverity       = "ssmsession.severity"
	AttrFramework      = "threat.framework"
	AttrTacticID       = "threat.tactic.id"
	AttrTacticName     = "threat.tactic.name"
	AttrTechniqueID    = "threat.technique.id"
	AttrTechniqueName  = "threat.technique.name"
	AttrSubTechID      = "threat.technique.subtechnique.id"
	AttrSubTechName    = "threat.technique.subtechnique.name"
	AttrTarget         = "ssmsession.target"
	AttrPrincipal      = "ssmsession.principal"
	AttrSourceInstance = "ssmsession.source_instance"
	AttrNewTerm        = "ssmsession.new_term"
	AttrTerms          = "ssmsession.terms"
	AttrAlertID        = "ssmsession.alert_id"
	AttrLearning       = "ssmsession.learning"
	AttrSessionID      = "ssmsession.session_id"
	AttrDocumentName   = "ssmsession.document_name"
	AttrLaunchedAt     = "ssmsession.target.launched_at"
	AttrRecentLaunch   = "ssmsession.target.recently_launched"
)

// AddedAttributes lists every attribute the processor may add to a match.
var AddedAttributes = []string{
	AttrRuleID, AttrRuleName, AttrRiskScore, AttrSeverity, AttrFramework, AttrTacticID, AttrTacticName,
	AttrTechniqueID, AttrTechniqueName, AttrSubTechID, AttrSubTechName, AttrTarget, AttrPrincipal,
	AttrSourceInstance, AttrNewTerm, AttrTerms, AttrAlertID, AttrLearning,
	AttrSessionID, AttrDocumentName, AttrLaunchedAt, AttrRecentLaunch,
}

// decision is the new_terms outcome of one match.
type decision struct {
	decided  bool
	isNew    bool
	learning bool // within the learning period: recorded, not alerted
	terms    []string
	key      firstseen.Key
	event    uint64
}

// tag adds the rule's attributes, the session's and its target's to a
// matching record; nothing else of the record changes. A record tagged
// before (a receiver sending a refused batch again) loses the earlier tags
// first: an alert id or launch answer of the earlier attempt must not stand
// beside this decision.
func tag(lr plog.LogRecord, rule RuleConfig, ev *cloudtrail.Event, d decision, la launch) {
	a := lr.Attributes()
	if _, again := a.Get(AttrRuleID); again {
		a.RemoveIf(func(k string, _ pcommon.Value) bool { return slices.Contains(AddedAttributes, k) })
	}
	a.EnsureCapacity(a.Len() + len(AddedAttributes)) // one growth of the attribute slice, not several
	a.PutStr(AttrRuleID, RuleID)
	a.PutStr(AttrRuleName, RuleName)
	a.PutInt(AttrRiskScore, int64(rule.RiskScore))
	a.PutStr(AttrSeverity, rule.Severity)
	a.PutStr(AttrFramework, "MITRE ATT&CK")
	a.PutStr(AttrTacticID, TacticID)
	a.PutStr(AttrTacticName, TacticName)
	a.PutStr(AttrTechniqueID, TechniqueID)
	a.PutStr(AttrTechniqueName, TechniqueName)
	a.PutStr(AttrSubTechID, SubTechID)
	a.PutStr(AttrSubTechName, SubTechName)
	putNonEmpty(lr, AttrTarget, ev.Target)
	putNonEmpty(lr, AttrPrincipal, ev.Principal())
	putNonEmpty(lr, AttrSourceInstance, ev.SourceInstance())
	putNonEmpty(lr, AttrSessionID, ev.SessionID)
	putNonEmpty(lr, AttrDocumentName, ev.DocumentName)
	if !la.at.IsZero() {
		a.PutStr(AttrLaunchedAt, la.at.UTC().Format(time.RFC3339))
	}
	if la.answered {
		a.PutBool(AttrRecentLaunch, la.recently)
	}
	if !d.decided {
		return
	}
	a.PutBool(AttrNewTerm, d.isNew)
	if d.learning {
		a.PutBool(AttrLearning, true)
	}
	terms := a.PutEmptySlice(AttrTerms)
	terms.EnsureCapacity(len(d.terms))
	for _, v := range d.terms {
		terms.AppendEmpty().SetStr(v)
	}
	if d.isNew {
		a.PutStr(AttrAlertID, alertID(d.key, d.event))
	}
}

func putNonEmpty(lr plog.LogRecord, k, v string) {
	if v != "" {
		lr.Attributes().PutStr(k, v)
	}
}

// alertID is deterministic in the rule, the term and the event, so that a
// redelivered alert carries the same id and downstream can deduplicate it
// (as Elastic builds alert ids from rule, document and terms).
func alertID(k firstseen.Key, event uint64) string {
	var b [len(RuleID) + len(k) + 8]byte
	n := copy(b[:], RuleID)
	n += copy(b[n:], k[:])
	binary.BigEndian.PutUint64(b[n:], event)
	sum := sha256.Sum256(b[:])
	return hex.EncodeToString(sum[:16])
}
