// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package traffic // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"

import (
	"fmt"
	"strings"
	"time"
)

// StartSession is an SSM StartSession call; errCode and errMsg make it fail.
// Extra request parameters (documentName, reason, parameters) are added
// after target, as the console and CLI send them.
func (g *Generator) StartSession(who *Identity, at time.Time, target string, extra map[string]any, errCode, errMsg string) Call {
	params := map[string]any{"target": target}
	for k, v := range extra {
		params[k] = v
	}
	c := Call{Who: who, At: at, Source: "ssm.amazonaws.com", Name: "StartSession", Params: params, Error: [2]string{errCode, errMsg}}
	if errCode == "" {
		id := sessionOwner(who) + "-" + g.hex(17)
		c.Response = map[string]any{
			"sessionId":  id,
			"tokenValue": "Value hidden due to security reasons.",
			"streamUrl":  fmt.Sprintf("wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/%s?role=publish_subscribe&cell-number=AAEAAf", id),
		}
	}
	return c
}

// TerminateSession ends the session a StartSession call opened.
func TerminateSession(start Call, at time.Time) Call {
	id := start.Response.(map[string]any)["sessionId"]
	return Call{Who: start.Who, At: at, Source: "ssm.amazonaws.com", Name: "TerminateSession",
		Params: map[string]any{"sessionId": id}, Response: map[string]any{"sessionId": id}}
}

// ResumeSession reconnects to the session a StartSession call opened.
func ResumeSession(start Call, at time.Time) Call {
	resp := start.Response.(map[string]any)
	return Call{Who: start.Who, At: at, Source: "ssm.amazonaws.com", Name: "ResumeSession",
		Params: map[string]any{"sessionId": resp["sessionId"]}, Response: resp}
}

// RunInstances launches instances from a launch template, as an Auto
// Scaling group does, each tagged with the group's name.
func (g *Generator) RunInstances(who *Identity, at time.Time, group string, instances ...string) Call {
	var items []any
	for i, id := range instances {
		ip := fmt.Sprintf("10.0.%d.%d", 12+i, 10+g.rng.IntN(200))
		items = append(items, map[string]any{
			"instanceId": id, "imageId": "ami-0c1f7b4d2a9e83c55", "instanceState": map[string]any{"code": 0, "name": "pending"},
			"privateDnsName": "ip-" + strings.ReplaceAll(ip, ".", "-") + ".eu-west-1.compute.internal", "amiLaunchIndex": i,
			"instanceType": "t3.medium", "launchTime": at.UnixMilli(), "placement": map[string]any{"availabilityZone": "eu-west-1a", "tenancy": "default"},
			"subnetId": "subnet-0e4a2c6b8d1f3a5c7", "vpcId": "vpc-0b2d4f6a8c0e1a3b5", "privateIpAddress": ip,
			"tagSet": map[string]any{"items": []any{map[string]any{"key": "aws:autoscaling:groupName", "value": group}}},
		})
	}
	return Call{Who: who, At: at, Source: "ec2.amazonaws.com", Name: "RunInstances",
		Params: map[string]any{
			"instancesSet":   map[string]any{"items": []any{map[string]any{"minCount": len(instances), "maxCount": len(instances)}}},
			"launchTemplate": map[string]any{"launchTemplateId": "lt-0d1c2b3a4f5e6d7c8", "version": "7"},
			"clientToken":    "fleet-" + g.uuid(),
		},
		Response: map[string]any{"reservationId": "r-" + g.hex(17), "ownerId": who.AccountID, "requesterId": "940372691376",
			"instancesSet": map[string]any{"items": items}}}
}

// sessionOwner is the prefix SSM gives session ids: the caller's name.
func sessionOwner(who *Identity) string {
	switch {
	case who.UserName != "":
		return who.UserName
	case who.Type == "AssumedRole":
		return who.PrincipalID[len("AROA")+17+1:]
	}
	return who.AccountID
}

// accessDenied is the message AWS returns for a denied action.
func accessDenied(who *Identity, action, resource string) string {
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action", who.ARN, action, resource, action)
}

// routine is one kind of everyday call an identity makes.
type routine func(g *Generator, who *Identity, at time.Time) Call

var (
	describeInstances routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "ec2.amazonaws.com", Name: "DescribeInstances", ReadOnly: true,
			Params: map[string]any{"instancesSet": map[string]any{}, "filterSet": map[string]any{"items": []any{map[string]any{"name": "instance-state-name", "valueSet": map[string]any{"items": []any{map[string]any{"value": "running"}}}}}}}}
	}
	getCallerIdentity routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "sts.amazonaws.com", Name: "GetCallerIdentity", ReadOnly: true}
	}
	describeInstanceInformation routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "ssm.amazonaws.com", Name: "DescribeInstanceInformation", ReadOnly: true, Params: map[string]any{"maxResults": 50}}
	}
	putMetricData routine = func(g *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "monitoring.amazonaws.com", Name: "PutMetricData", Params: map[string]any{"namespace": "App/Requests"}}
	}
	getMetricData routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "monitoring.amazonaws.com", Name: "GetMetricData", ReadOnly: true,
			Params: map[string]any{"startTime": at.Add(-10 * time.Minute).UTC().Format(time.RFC3339), "endTime": at.UTC().Format(time.RFC3339)}}
	}
	getObject routine = func(g *Generator, who *Identity, at time.Time) Call {
		key := fmt.Sprintf("daily/%s/report-%s.csv", at.Format("2006-01-02"), g.hex(6))
		return Call{Who: who, At: at, Source: "s3.amazonaws.com", Name: "GetObject", ReadOnly: true, Data: true,
			Params: map[string]any{"bucketName": "acme-reports-" + who.AccountID, "Host": "acme-reports-" + who.AccountID + ".s3.eu-west-1.amazonaws.com", "key": key}}
	}
	putObject routine = func(g *Generator, who *Identity, at time.Time) Call {
		key := fmt.Sprintf("uploads/%s/%s.json", at.Format("2006/01/02"), g.uuid())
		return Call{Who: who, At: at, Source: "s3.amazonaws.com", Name: "PutObject", Data: true,
			Params: map[string]any{"bucketName": "acme-app-data-" + who.AccountID, "Host": "acme-app-data-" + who.AccountID + ".s3.eu-west-1.amazonaws.com", "key": key}}
	}
	getParameter routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "ssm.amazonaws.com", Name: "GetParameter", ReadOnly: true,
			Params: map[string]any{"name": "/prod/app/feature-flags", "withDecryption": false}}
	}
	decrypt routine = func(g *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "kms.amazonaws.com", Name: "Decrypt", ReadOnly: true,
			Params: map[string]any{"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": "arn:aws:kms:eu-west-1:" + who.AccountID + ":key/" + g.uuid()}}
	}
	updateInstanceInformation routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "ssm.amazonaws.com", Name: "UpdateInstanceInformation",
			Params: map[string]any{"instanceId": sessionOwner(who), "agentVersion": "3.3.1142.0", "agentStatus": "Active", "platformType": "Linux", "platformName": "Amazon Linux", "iPAddress": "HIDDEN_DUE_TO_SECURITY_REASONS"}}
	}
	describeSecurityGroups routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "ec2.amazonaws.com", Name: "DescribeSecurityGroups", ReadOnly: true,
			Params: map[string]any{"securityGroupSet": map[string]any{}, "securityGroupIdSet": map[string]any{}, "filterSet": map[string]any{}}}
	}
	listRoles routine = func(_ *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "iam.amazonaws.com", Name: "ListRoles", ReadOnly: true, Region: "us-east-1", Params: map[string]any{"maxItems": 100}}
	}
	assumeRoleByService routine = func(g *Generator, who *Identity, at time.Time) Call {
		return Call{Who: who, At: at, Source: "sts.amazonaws.com", Name: "AssumeRole", ReadOnly: true,
			Params: map[string]any{"roleArn": "arn:aws:iam::" + who.AccountID + ":role/web-tier", "roleSessionName": "i-" + g.hex(17), "durationSeconds": 3600}}
	}
)
