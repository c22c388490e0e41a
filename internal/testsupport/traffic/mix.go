// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package traffic // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"

import (
	"fmt"
	"time"
)

// Mix returns n events of an estate's everyday API traffic in which about
// share are SSM StartSession calls (one in ten of them failing), made by a
// pool of identities people and roles (IAM users and SSO role sessions).
// Output depends only on seed.
func Mix(seed uint64, n int, share float64, identities int) [][]byte {
	g := NewGenerator(seed)
	at := DemoStart
	var people []*Identity
	for i := 0; i < identities; i++ {
		if i%2 == 0 {
			people = append(people, IAMUser(ProdAccount, fmt.Sprintf("engineer-%03d", i), "203.0.113.20", agentCLI+"ssm.start-session"))
		} else {
			people = append(people, Role(ProdAccount, ssoPth, ssoOps, fmt.Sprintf("person%03d@example.com", i), "203.0.113.21", agentCLI+"ssm.start-session", at))
		}
	}
	web := Role(ProdAccount, "/", "web-tier", Web1, "10.0.12.31", agentSDK+"s3#1.71.0", at)
	actors := []actor{
		{who: web, calls: []routine{getObject, putObject, putMetricData, getParameter, decrypt}},
		{who: Role(ProdAccount, "/", "payments-app", Payments, "10.0.22.9", agentSDK+"kms#1.37.8", at), calls: []routine{decrypt, putMetricData, getParameter}},
		{who: Role(ProdAccount, "/", "web-tier", Web2, "10.0.13.47", agentSSM, at), calls: []routine{updateInstanceInformation}},
		{who: Role(ProdAccount, "/", "DatadogIntegrationRole", "DatadogAWSIntegration", "192.0.2.77", "Datadog", at), calls: []routine{describeInstances, getMetricData, describeSecurityGroups}},
		{who: Service(ProdAccount, "ec2.amazonaws.com"), calls: []routine{assumeRoleByService}},
		{who: people[0], calls: []routine{describeInstances, describeInstanceInformation, listRoles, getCallerIdentity}},
	}
	targets := []string{Web1, Web2, DB, Bastion, Payments}
	out := make([][]byte, n)
	for i := range out {
		at = at.Add(time.Duration(1+g.rng.IntN(4000)) * time.Millisecond)
		if g.rng.Float64() >= share {
			a := actors[g.rng.IntN(len(actors))]
			out[i] = g.Render(a.calls[g.rng.IntN(len(a.calls))](g, a.who, at))
			continue
		}
		who, target := people[g.rng.IntN(len(people))], targets[g.rng.IntN(len(targets))]
		if g.rng.IntN(10) == 0 {
			out[i] = g.Render(g.StartSession(who, at, target, nil, "TargetNotConnected", target+" is not connected."))
			continue
		}
		out[i] = g.Render(g.StartSession(who, at, target, nil, "", ""))
	}
	return out
}
