// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package traffic // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"

import (
	"fmt"
	"strings"
	"time"
)

// Well-known user agents.
const (
	agentCLI     = "aws-cli/2.22.4 md/awscrt#0.23.4 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#"
	agentSDK     = "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 api/"
	agentSSM     = "aws-sdk-go/1.55.5 (go1.22.9; linux; amd64) amazon-ssm-agent/3.3.1142.0"
	agentConsole = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	agentBoto    = "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.76"
)

// IAMUser is a long-term IAM user calling from ip with agent.
func IAMUser(account, name, ip, agent string) *Identity {
	key := strings.ToUpper(strings.NewReplacer("-", "", ".", "", "_", "").Replace(name))
	return &Identity{
		Type:        "IAMUser",
		PrincipalID: "AIDA" + pad(key, 17),
		ARN:         fmt.Sprintf("arn:aws:iam::%s:user/%s", account, name),
		AccountID:   account,
		AccessKeyID: "AKIA" + pad(key, 16),
		UserName:    name,
		ip:          ip,
		agent:       agent,
	}
}

// Role is a session of an assumed role; path is the role's IAM path ("/" or
// "/aws-reserved/sso.amazonaws.com/eu-west-1/").
func Role(account, path, role, session, ip, agent string, created time.Time) *Identity {
	id := "AROA" + pad(strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(role)), 17)
	return &Identity{
		Type:        "AssumedRole",
		PrincipalID: id + ":" + session,
		ARN:         fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, role, session),
		AccountID:   account,
		AccessKeyID: "ASIA" + pad(strings.ToUpper(strings.NewReplacer("-", "", ".", "", "@", "").Replace(session)), 16),
		SessionContext: &sessionContext{
			SessionIssuer: &issuer{Type: "Role", PrincipalID: id, ARN: fmt.Sprintf("arn:aws:iam::%s:role%s%s", account, path, role), AccountID: account, UserName: role},
			Attributes:    sessionAttrs{CreationDate: created.UTC().Format(time.RFC3339), MFAAuthenticated: "false"},
			WebIDFed:      &map[string]any{},
		},
		ip:    ip,
		agent: agent,
	}
}

// AutoScaling is Auto Scaling's service-linked role launching instances.
func AutoScaling(account string, at time.Time) *Identity {
	who := Role(account, "/aws-service-role/autoscaling.amazonaws.com/", "AWSServiceRoleForAutoScaling", "AutoScaling",
		"autoscaling.amazonaws.com", "autoscaling.amazonaws.com", at)
	who.InvokedBy = "autoscaling.amazonaws.com"
	return who
}

// Service is an AWS service acting on the account's behalf.
func Service(account, service string) *Identity {
	return &Identity{Type: "AWSService", InvokedBy: service, AccountID: account, ip: service, agent: service}
}

// pad makes a fixed-length id part from a name: letters and digits only.
func pad(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	for len(s) < n {
		s += "EXAMPLE0123456789"
	}
	return s[:n]
}
