// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package traffic generates realistic CloudTrail events: the everyday API
// calls of an AWS estate and SSM sessions among them. It feeds the demo
// data, the benchmarks and the load tests; output is deterministic per seed.
package traffic // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// event keeps CloudTrail's own key order when marshalled.
type event struct {
	EventVersion                 string    `json:"eventVersion"`
	UserIdentity                 *Identity `json:"userIdentity"`
	EventTime                    string    `json:"eventTime"`
	EventSource                  string    `json:"eventSource"`
	EventName                    string    `json:"eventName"`
	AwsRegion                    string    `json:"awsRegion"`
	SourceIPAddress              string    `json:"sourceIPAddress"`
	UserAgent                    string    `json:"userAgent"`
	ErrorCode                    string    `json:"errorCode,omitempty"`
	ErrorMessage                 string    `json:"errorMessage,omitempty"`
	RequestParameters            any       `json:"requestParameters"`
	ResponseElements             any       `json:"responseElements"`
	AdditionalEventData          any       `json:"additionalEventData,omitempty"`
	RequestID                    string    `json:"requestID"`
	EventID                      string    `json:"eventID"`
	ReadOnly                     bool      `json:"readOnly"`
	Resources                    []any     `json:"resources,omitempty"`
	EventType                    string    `json:"eventType"`
	ManagementEvent              bool      `json:"managementEvent"`
	RecipientAccountID           string    `json:"recipientAccountId"`
	EventCategory                string    `json:"eventCategory"`
	TLSDetails                   any       `json:"tlsDetails,omitempty"`
	SessionCredentialFromConsole string    `json:"sessionCredentialFromConsole,omitempty"`
}

// Identity is a CloudTrail userIdentity.
type Identity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *sessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	// Not part of CloudTrail: where and with what this identity calls from.
	ip, agent string
}

type sessionContext struct {
	SessionIssuer *issuer         `json:"sessionIssuer,omitempty"`
	Attributes    sessionAttrs    `json:"attributes"`
	WebIDFed      *map[string]any `json:"webIdFederationData,omitempty"`
}

type issuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

type sessionAttrs struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// Call is one API call to render.
type Call struct {
	Who      *Identity
	At       time.Time
	Source   string // eventSource
	Name     string // eventName
	Region   string
	Params   any
	Response any
	// Error, when set, is errorCode and errorMessage.
	Error    [2]string
	ReadOnly bool
	Data     bool // a data event (S3 object access), not management
	// EventID, when set, replaces the generated id (duplicate deliveries).
	EventID string
	// Delivered, when set, is when the event reaches the stream, if not at
	// once: CloudTrail delivers some events late or twice.
	Delivered time.Time
}

func (c Call) arrival() time.Time {
	if c.Delivered.IsZero() {
		return c.At
	}
	return c.Delivered
}

// Generator renders calls with ids drawn from a seeded source.
type Generator struct {
	rng *rand.Rand
}

// NewGenerator returns a generator whose output depends only on seed.
func NewGenerator(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// uuid draws a random UUID-shaped id.
func (g *Generator) uuid() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

// hex draws n lower-case hex digits.
func (g *Generator) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

// Render turns a call into one CloudTrail event as JSON.
func (g *Generator) Render(c Call) []byte {
	region := c.Region
	if region == "" {
		region = "eu-west-1"
	}
	ev := event{
		EventVersion:       "1.09",
		UserIdentity:       c.Who,
		EventTime:          c.At.UTC().Format(time.RFC3339),
		EventSource:        c.Source,
		EventName:          c.Name,
		AwsRegion:          region,
		SourceIPAddress:    c.Who.ip,
		UserAgent:          c.Who.agent,
		ErrorCode:          c.Error[0],
		ErrorMessage:       c.Error[1],
		RequestParameters:  c.Params,
		ResponseElements:   c.Response,
		RequestID:          g.uuid(),
		EventID:            c.EventID,
		ReadOnly:           c.ReadOnly,
		EventType:          "AwsApiCall",
		ManagementEvent:    !c.Data,
		RecipientAccountID: c.Who.AccountID,
		EventCategory:      "Management",
		TLSDetails: map[string]string{
			"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
			"clientProvidedHostHeader": hostFor(c.Source, region),
		},
	}
	if ev.EventID == "" {
		ev.EventID = g.uuid()
	}
	if c.Data {
		ev.EventCategory = "Data"
	}
	if c.Who.Type == "AWSService" {
		ev.TLSDetails = nil
		ev.EventType = "AwsServiceEvent"
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // only static types are marshalled
	}
	return b
}

func hostFor(source, region string) string {
	svc := source[:len(source)-len(".amazonaws.com")]
	if svc == "iam" || svc == "signin" {
		return source
	}
	return svc + "." + region + ".amazonaws.com"
}
