// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package traffic // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/traffic"

import (
	"sort"
	"time"
)

// Accounts of the demo estate.
const (
	ProdAccount = "111122223333"
	DevAccount  = "444455556666"
)

// Instances of the production account.
const (
	Web1     = "i-0a3f5c2e91b7d4e01"
	Web2     = "i-0a3f5c2e91b7d4e02"
	DB       = "i-0db5e7a1c3f9b2d40"
	Bastion  = "i-0b4571a2c3d4e5f60"
	Payments = "i-0c8e2f4a6b1d3e5f7"
	DevBox   = "i-0de7b0c5a1f2e3d49"
	// Web3 is launched by the web tier's Auto Scaling group in the third
	// night, half an hour before the lateral movement.
	Web3 = "i-0a3f5c2e91b7d4e03"
)

// DemoStart is midnight UTC of the first demo day.
var DemoStart = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)

const (
	ssoOps = "AWSReservedSSO_OpsEngineer_7c1f0a9b2e3d4c5f"
	ssoDev = "AWSReservedSSO_Developer_2b8e4d6f0a1c3e5a"
	ssoPth = "/aws-reserved/sso.amazonaws.com/eu-west-1/"
)

// Demo returns four days of the production account's CloudTrail (as a
// stream would deliver it, for NDJSON) and a day of the development
// account's trail (for an S3 file object). In the middle of the third
// night a leaked access key of the reporting service user opens a session
// on a web server that has run for days, and from there the web server's
// role moves on to the database, the bastion and a web server the Auto
// Scaling group launched half an hour before.
func Demo() (prod, dev [][]byte) {
	g := NewGenerator(20261116)
	return g.prodTrail(), g.devTrail()
}

// timeline collects calls and renders them in event-time order.
type timeline struct {
	g     *Generator
	calls []Call
}

func (t *timeline) add(c ...Call) { t.calls = append(t.calls, c...) }

func (t *timeline) render() [][]byte {
	sort.SliceStable(t.calls, func(i, j int) bool { return t.calls[i].arrival().Before(t.calls[j].arrival()) })
	out := make([][]byte, len(t.calls))
	for i, c := range t.calls {
		out[i] = t.g.Render(c)
	}
	return out
}

// session adds a StartSession and, for a success, its TerminateSession.
func (t *timeline) session(who *Identity, at time.Time, target string, extra map[string]any, minutes int) Call {
	start := t.g.StartSession(who, at, target, extra, "", "")
	start.EventID = t.g.uuid()
	t.add(start, TerminateSession(start, at.Add(time.Duration(minutes)*time.Minute+time.Duration(t.g.rng.IntN(50))*time.Second)))
	return start
}

// noise adds everyday calls by the given actors: busier in working hours.
func (t *timeline) noise(day time.Time, actors []actor) {
	for h := 0; h < 24; h++ {
		n := 3
		if h >= 8 && h < 18 {
			n = 10
		}
		for i := 0; i < n+t.g.rng.IntN(4); i++ {
			a := actors[t.g.rng.IntN(len(actors))]
			if a.office && (h < 8 || h >= 19) {
				continue
			}
			at := day.Add(time.Duration(h)*time.Hour + time.Duration(t.g.rng.IntN(3600))*time.Second)
			t.add(a.calls[t.g.rng.IntN(len(a.calls))](t.g, a.who, at))
		}
	}
}

// actor is an identity and the routine calls it makes.
type actor struct {
	who    *Identity
	calls  []routine
	office bool // only in working hours
}

func (g *Generator) prodTrail() [][]byte {
	t := &timeline{g: g}
	day := func(n int) time.Time { return DemoStart.AddDate(0, 0, n) }
	ops := func(who string, n int) *Identity {
		return Role(ProdAccount, ssoPth, ssoOps, who, "203.0.113.1"+string(rune('0'+n)), agentCLI+"ssm.start-session", day(0).Add(7*time.Hour))
	}
	alice, bob, carol := ops("alice.ng@example.com", 1), ops("bob.kowalski@example.com", 2), ops("carol.diaz@example.com", 3)
	deploy := Role(ProdAccount, "/ci/", "github-deploy", "GitHubActions", "192.0.2.40", agentSDK+"ssm#1.56.2", day(0))
	reporting := IAMUser(ProdAccount, "svc-reporting", "203.0.113.15", agentBoto)
	webRole := func(instance, ip string) *Identity {
		return Role(ProdAccount, "/", "web-tier", instance, ip, agentSDK+"s3#1.71.0", day(0))
	}
	web1, web2 := webRole(Web1, "10.0.12.31"), webRole(Web2, "10.0.13.47")
	payments := Role(ProdAccount, "/", "payments-app", Payments, "10.0.22.9", agentSDK+"kms#1.37.8", day(0))
	agent := func(instance, role, ip string) *Identity {
		return Role(ProdAccount, "/", role, instance, ip, agentSSM, day(0))
	}
	monitoring := Role(ProdAccount, "/", "DatadogIntegrationRole", "DatadogAWSIntegration", "192.0.2.77", "Datadog", day(0))
	actors := []actor{
		{who: web1, calls: []routine{getObject, putObject, putMetricData, getParameter, decrypt}},
		{who: web2, calls: []routine{getObject, putObject, putMetricData, getParameter}},
		{who: payments, calls: []routine{decrypt, putMetricData, getParameter}},
		{who: agent(Web1, "web-tier", "10.0.12.31"), calls: []routine{updateInstanceInformation}},
		{who: agent(DB, "db-host", "10.0.30.5"), calls: []routine{updateInstanceInformation}},
		{who: agent(Bastion, "bastion", "10.0.1.10"), calls: []routine{updateInstanceInformation}},
		{who: monitoring, calls: []routine{describeInstances, getMetricData, describeSecurityGroups}},
		{who: Service(ProdAccount, "ec2.amazonaws.com"), calls: []routine{assumeRoleByService}},
		{who: reporting, calls: []routine{getObject, getCallerIdentity}, office: true},
		{who: alice, calls: []routine{describeInstances, describeInstanceInformation, listRoles}, office: true},
		{who: bob, calls: []routine{describeInstances, describeInstanceInformation, describeSecurityGroups}, office: true},
	}
	for d := 0; d < 4; d++ {
		t.noise(day(d), actors)
		// Routine operations: engineers on the app and bastion hosts (carol
		// joins the team on day 4, in the same SSO role), the pipeline's port
		// forward to the database.
		engineers := []*Identity{alice, bob}
		if d == 3 {
			engineers = append(engineers, carol)
		}
		for i, who := range engineers {
			for s := 0; s < 2+g.rng.IntN(2); s++ {
				at := day(d).Add(time.Duration(9+i+3*s)*time.Hour + time.Duration(g.rng.IntN(3000))*time.Second)
				target := []string{Web1, Web2, Bastion}[g.rng.IntN(3)]
				t.session(who, at, target, nil, 5+g.rng.IntN(35))
			}
		}
		for _, h := range []int{10, 15} {
			t.session(deploy, day(d).Add(time.Duration(h)*time.Hour+30*time.Minute), DB, map[string]any{
				"documentName": "AWS-StartPortForwardingSession",
				"parameters":   map[string]any{"portNumber": []any{"5432"}, "localPortNumber": []any{"15432"}},
			}, 3)
		}
	}
	// Day 2, late evening: break-glass root session from the console. The
	// rule's user.name is absent for root: Elastic never alerts on it.
	root := &Identity{Type: "Root", PrincipalID: ProdAccount, ARN: "arn:aws:iam::" + ProdAccount + ":root", AccountID: ProdAccount,
		AccessKeyID: "ASIAROOTCONSOLE0001", SessionContext: &sessionContext{Attributes: sessionAttrs{CreationDate: day(1).Add(21*time.Hour + 31*time.Minute).Format(time.RFC3339), MFAAuthenticated: "true"}},
		ip: "203.0.113.12", agent: agentConsole}
	t.session(root, day(1).Add(21*time.Hour+40*time.Minute), Bastion, map[string]any{"reason": "INC-2207 bastion unreachable"}, 12)

	// Night of day 3: the web tier scales out, then the lateral movement.
	night := day(2).Add(2 * time.Hour)
	t.add(g.RunInstances(AutoScaling(ProdAccount, night.Add(-32*time.Minute)), night.Add(-31*time.Minute-48*time.Second), "web-asg", Web3))
	thief := IAMUser(ProdAccount, "svc-reporting", "198.51.100.66", agentCLI+"ssm.start-session")
	t.add(getCallerIdentity(g, thief, night.Add(12*time.Second)))
	t.add(describeInstances(g, thief, night.Add(100*time.Second)))
	t.add(describeInstanceInformation(g, thief, night.Add(185*time.Second)))
	t.add(g.StartSession(thief, night.Add(270*time.Second), DB, nil, "AccessDenied",
		accessDenied(thief, "ssm:StartSession", "arn:aws:ec2:eu-west-1:"+ProdAccount+":instance/"+DB)))
	foothold := t.session(thief, night.Add(310*time.Second), Web1, nil, 35)
	pivot := webRole(Web1, "10.0.12.31")
	pivot.agent = agentCLI + "ssm.start-session"
	t.add(Call{Who: pivot, At: night.Add(12 * time.Minute), Source: "ssm.amazonaws.com", Name: "GetParameter", ReadOnly: true,
		Params: map[string]any{"name": "/prod/payments/db-password", "withDecryption": true}})
	t.add(describeInstances(g, pivot, night.Add(13*time.Minute+30*time.Second)))
	t.session(pivot, night.Add(15*time.Minute+2*time.Second), DB, nil, 9)
	t.session(pivot, night.Add(21*time.Minute+45*time.Second), Bastion, map[string]any{"documentName": "AWS-StartInteractiveCommand", "parameters": map[string]any{"command": []any{"sudo su -"}}}, 4)
	t.session(pivot, night.Add(24*time.Minute+30*time.Second), Web3, nil, 6)
	t.add(g.StartSession(pivot, night.Add(26*time.Minute+10*time.Second), Payments, nil, "TargetNotConnected", Payments+" is not connected."))
	// Day 4, late afternoon: carol's session on the bastion is reconnected
	// (ResumeSession) and still open when the trail ends.
	open := g.StartSession(carol, day(3).Add(16*time.Hour+20*time.Minute), Bastion, nil, "", "")
	open.EventID = g.uuid()
	t.add(open, ResumeSession(open, day(3).Add(17*time.Hour+25*time.Minute)))

	// CloudTrail delivers the foothold event a second time, late.
	dup := foothold
	dup.Delivered = night.Add(40 * time.Minute)
	t.add(dup)
	return t.render()
}

// Day 4 in the development account: a new engineer's first sessions.
func (g *Generator) devTrail() [][]byte {
	t := &timeline{g: g}
	day := DemoStart.AddDate(0, 0, 3)
	erin := IAMUser(DevAccount, "erin", "203.0.113.31", agentCLI+"ssm.start-session")
	frank := Role(DevAccount, ssoPth, ssoDev, "frank.osei@example.com", "203.0.113.32", agentConsole, day.Add(8*time.Hour))
	devWeb := Role(DevAccount, "/", "dev-app", DevBox, "10.1.4.20", agentSDK+"s3#1.71.0", day)
	t.noise(day, []actor{
		{who: devWeb, calls: []routine{getObject, putObject, putMetricData}},
		{who: erin, calls: []routine{describeInstances, getCallerIdentity}, office: true},
		{who: frank, calls: []routine{describeInstances, describeSecurityGroups}, office: true},
	})
	t.session(erin, day.Add(9*time.Hour+12*time.Minute), DevBox, nil, 25)
	t.session(frank, day.Add(10*time.Hour+3*time.Minute), DevBox, map[string]any{"reason": "debug build agent"}, 40)
	t.session(erin, day.Add(14*time.Hour+40*time.Minute), DevBox, nil, 10)
	return t.render()
}
