// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package cloudtrail reads the logical fields of a CloudTrail event from a log
// record, whichever of the four common shapes carried it: a raw JSON body, a
// parsed map, Elastic/ECS attributes, or OpenTelemetry's CloudTrail attributes.
package cloudtrail // import "github.com/cloudtrail-detect/ssmsession/internal/cloudtrail"

import (
	"slices"
	"strings"
	"time"
)

// Well-known values of the SSM StartSession detection.
const (
	ProviderSSM  = "ssm.amazonaws.com"
	ProviderEC2  = "ec2.amazonaws.com"
	ActionStart  = "StartSession"
	OutcomeOK    = "success"
	OutcomeError = "failure"
)

// Call is an API call a component reads: its eventSource and eventName.
type Call struct{ Provider, Action string }

// The calls the components read.
var (
	StartSession     = Call{ProviderSSM, ActionStart}
	TerminateSession = Call{ProviderSSM, "TerminateSession"}
	ResumeSession    = Call{ProviderSSM, "ResumeSession"}
	RunInstances     = Call{ProviderEC2, "RunInstances"}
)

// knownCalls are all the calls a Reader can be asked for.
var knownCalls = []Call{StartSession, TerminateSession, ResumeSession, RunInstances}

// readProviders are the providers of knownCalls: a record from any other
// is skipped on its provider alone.
var readProviders = func() []string {
	var out []string
	for _, c := range knownCalls {
		if !slices.Contains(out, c.Provider) {
			out = append(out, c.Provider)
		}
	}
	return out
}()

// Is reports whether the event is the call c.
func (e *Event) Is(c Call) bool { return Call{e.Provider, e.Action} == c }

// Shape names which input shape an Event was read from.
type Shape uint8

const (
	ShapeNone Shape = iota
	ShapeRawJSON
	ShapeMap
	ShapeECS
	ShapeOTel
)

// Identity is CloudTrail's userIdentity, as far as detection needs it.
type Identity struct {
	Type           string
	ARN            string
	PrincipalID    string
	AccountID      string
	UserName       string
	AccessKeyID    string
	InvokedBy      string
	IssuerType     string
	IssuerARN      string
	IssuerUserName string
	// OnBehalfOfUserID is the Identity Center user id; UserID is
	// userIdentity.userId, where some producers put it.
	OnBehalfOfUserID string
	UserID           string
	// LoginUserName is additionalEventData.UserName (Identity Center sign-ins).
	LoginUserName string
}

// Event is one CloudTrail event. Empty strings mean "absent": like Elastic's
// pipeline, readers drop "", "-" and "none" before anything is derived.
type Event struct {
	Shape        Shape
	Provider     string // eventSource
	Action       string // eventName
	ErrorCode    string
	ErrorMessage string
	// Outcome is set when the shape carries it precomputed (ECS event.outcome).
	Outcome string
	// Time is the event time.
	Time       time.Time
	ID         string // eventID
	Region     string
	SourceAddr string
	// RecipientAccountID is the account that received the event.
	RecipientAccountID string
	// AccountIDOverride and UserNameOverride carry values an upstream pipeline
	// already derived (ECS cloud.account.id, user.name); for ECS an absent
	// user.name is Elastic's decision and is kept absent.
	AccountIDOverride string
	UserNameOverride  string
	Identity          Identity
	Target            string
	DocumentName      string
	// SessionID is the session a StartSession opened (responseElements),
	// or a TerminateSession or ResumeSession names (requestParameters).
	SessionID string
	// Instances are the instances a RunInstances launched.
	Instances []string
	// rawTime, rawParams and rawResponse hold text parsed once an event is
	// read.
	rawTime, rawParams, rawResponse string
}

// Reset clears e for reuse without giving up its identity.
func (e *Event) Reset() { *e = Event{} }

// MaxInstances bounds the instances read from one RunInstances event (AWS
// launches far fewer per call); more are ignored.
const MaxInstances = 1000

// addInstance keeps a launched instance's id, when it is one.
func (e *Event) addInstance(id string) {
	if IsInstanceID(id) && len(e.Instances) < MaxInstances {
		e.Instances = append(e.Instances, id)
	}
}

// OutcomeValue is event.outcome as Elastic decides it: failure when an error
// code or message is present, else success.
func (e *Event) OutcomeValue() string {
	if e.Outcome != "" {
		return e.Outcome
	}
	if e.ErrorCode != "" || e.ErrorMessage != "" {
		return OutcomeError
	}
	return OutcomeOK
}

// Success reports whether the call succeeded.
func (e *Event) Success() bool { return e.OutcomeValue() == OutcomeOK }

// AccountID is cloud.account.id: the identity's account, else the recipient's.
func (e *Event) AccountID() string {
	if e.AccountIDOverride != "" {
		return e.AccountIDOverride
	}
	if e.Identity.AccountID != "" {
		return e.Identity.AccountID
	}
	return e.RecipientAccountID
}

// UserName is user.name as Elastic's newest CloudTrail pipeline sets it: the
// IAM user name, the role name (not the session name) for assumed roles and
// federated users, nothing for root, AWS services, service-linked roles.
func (e *Event) UserName() string {
	if e.Shape == ShapeECS {
		return e.UserNameOverride
	}
	id := &e.Identity
	switch id.Type {
	case "IAMUser":
		return id.UserName
	case "AssumedRole":
		if strings.Contains(id.IssuerARN, ":role/aws-service-role/") {
			return ""
		}
		return id.IssuerUserName
	case "FederatedUser":
		return id.IssuerUserName
	case "Root", "AWSService":
		return ""
	case "IdentityCenterUser":
		return id.LoginUserName
	default:
		return id.UserName
	}
}

// Principal is the identity normalised for first-seen decisions: the role ARN
// for an assumed role (stable across sessions), the issuing user for a
// federated user, else the user or root ARN, else the principal id.
func (e *Event) Principal() string {
	id := &e.Identity
	switch id.Type {
	case "AssumedRole", "FederatedUser":
		if id.IssuerARN != "" {
			return id.IssuerARN
		}
		if role := RoleARNFromSession(id.ARN); role != "" {
			return role
		}
	case "IdentityCenterUser":
		if v := firstNonEmpty(id.OnBehalfOfUserID, id.UserID); v != "" {
			return v
		}
	}
	return firstNonEmpty(id.ARN, id.PrincipalID, id.OnBehalfOfUserID, id.UserID, id.InvokedBy)
}

// SessionName is the part of an assumed-role ARN after the role name.
func (e *Event) SessionName() string {
	if _, session, ok := splitAssumedRole(e.Identity.ARN); ok {
		return session
	}
	return ""
}

// SourceInstance is the EC2 instance whose role credentials made the call,
// when the session name of an assumed role is an instance id: the hunt's sign
// of instance-to-instance movement.
func (e *Event) SourceInstance() string {
	if e.Identity.Type != "AssumedRole" {
		return ""
	}
	if s := e.SessionName(); IsInstanceID(s) {
		return s
	}
	return ""
}

// IsInstanceID reports whether s looks like an EC2 instance id (i-xxxxxxxx).
func IsInstanceID(s string) bool {
	if len(s) < 10 || len(s) > 19 || !strings.HasPrefix(s, "i-") {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i] | 0x20 // lower-case letters; digits unchanged
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// RoleARNFromSession turns arn:aws:sts::ACCT:assumed-role/ROLE/SESSION into
// arn:aws:iam::ACCT:role/ROLE (the role's path is not in the session ARN).
func RoleARNFromSession(arn string) string {
	role, _, ok := splitAssumedRole(arn)
	if !ok {
		return ""
	}
	// arn:PARTITION:sts::ACCOUNT:assumed-role/...
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	return parts[0] + ":" + parts[1] + ":iam::" + parts[4] + ":role/" + role
}

func splitAssumedRole(arn string) (role, session string, ok bool) {
	const marker = ":assumed-role/"
	i := strings.Index(arn, marker)
	if i < 0 || !strings.Contains(arn[:i], ":sts:") {
		return "", "", false
	}
	rest := arn[i+len(marker):]
	j := strings.IndexByte(rest, '/')
	if j <= 0 || j == len(rest)-1 {
		return "", "", false
	}
	return rest[:j], rest[j+1:], true
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// clean applies Elastic's rule that "", "-" and "none" mean absent.
func clean(s string) string {
	if s == "-" || s == "none" {
		return ""
	}
	return s
}

// Fingerprint identifies the event: by its eventID, or when it has none, by
// what it is made of (time, principal, target, source). Never 0. FNV-1a is
// enough: event ids are AWS's, not chosen by whoever the event is about
// (term keys, which identities choose, use SHA-256).
func (e *Event) Fingerprint() uint64 {
	h := fnvString(fnvOffset, "id\x00")
	if e.ID != "" {
		return fnvString(h, e.ID) | 1
	}
	h = fnvString(fnvOffset, "event\x00"+e.Time.UTC().Format(time.RFC3339Nano))
	for _, s := range [...]string{e.Principal(), e.Target, e.SourceAddr} {
		h = fnvString(fnvString(h, "\x00"), s)
	}
	return h | 1
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}
