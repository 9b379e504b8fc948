package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
)

// Certificate names (CN) of the control host's parts, which may do everything. "temporal-system" is the server's
// own system worker (its client certificate is the server's, given in the config's tls.systemWorker).
var adminIdentities = map[string]bool{"control": true, "admin": true, "temporal-system": true}

// A PC's certificate name, node:<id> (domain/gate-admission.ts writes the same rule).
var nodeIdentity = regexp.MustCompile(`^node:([a-z][a-z0-9-]{0,30})$`)

// certificateClaims maps the client certificate's name to claims: an administrator's, or a PC's (its id, and why its
// certificate may not pass now, if so). Any other name, or no certificate, is refused before any call.
type certificateClaims struct{ credentials *pcCredentials }

// pcClaim is what a PC's claims carry for the authorizer.
type pcClaim struct {
	id      string
	refusal string
}

func (certificateClaims) AuthInfoRequired() bool { return true }

func (m certificateClaims) GetClaims(info *authorization.AuthInfo) (*authorization.Claims, error) {
	if info == nil || info.TLSSubject == nil {
		return nil, fmt.Errorf("no client certificate: Zanshin's Temporal admits only certificates of the cluster CA")
	}
	name := info.TLSSubject.CommonName
	if adminIdentities[name] {
		return &authorization.Claims{Subject: name, System: authorization.RoleAdmin, AuthType: "mtls"}, nil
	}
	if match := nodeIdentity.FindStringSubmatch(name); match != nil {
		claim := pcClaim{id: match[1]}
		if info.TLSConnection == nil || len(info.TLSConnection.State.PeerCertificates) == 0 {
			claim.refusal = "no client certificate"
		} else {
			claim.refusal = m.credentials.Refusal(claim.id, info.TLSConnection.State.PeerCertificates[0])
		}
		return &authorization.Claims{Subject: name, Extensions: claim, AuthType: "mtls"}, nil
	}
	return nil, fmt.Errorf("unknown certificate name %q: expected control, admin or node:<pc>", name)
}

// Rules: what a PC may ask of Temporal.
type Rules struct {
	Namespace        string
	ControlTaskQueue string
}

// A PC's calls a worker makes whatever queue it polls: who the server is, and answers to the tasks it was given (a
// task token names its workflow run and activity; it is handed out only by the poll of the PC's own queue).
var workerCalls = map[string]bool{
	"GetSystemInfo":                true,
	"DescribeNamespace":            true,
	"RespondActivityTaskCompleted": true,
	"RespondActivityTaskFailed":    true,
	"RespondActivityTaskCanceled":  true,
	"RecordActivityTaskHeartbeat":  true,
	"RecordWorkerHeartbeat":        true,
	"ShutdownWorker":               true,
}

// The signals a PC may send its own lifecycle workflow.
var pcSignals = map[string]bool{"shutdown": true, "protect": true, "seat": true}

const workflowService = "/temporal.api.workflowservice.v1.WorkflowService/"

// Refusal says why `pc` may not make the call, or "" when it may.
func (r Rules) Refusal(pc string, target *authorization.CallTarget) string {
	method, isWorkflowService := strings.CutPrefix(target.APIName, workflowService)
	if !isWorkflowService {
		return fmt.Sprintf("PC %s may not call %s (administrators only)", pc, target.APIName)
	}
	if target.Namespace != "" && target.Namespace != r.Namespace {
		return fmt.Sprintf("PC %s works in namespace %s, not %s", pc, r.Namespace, target.Namespace)
	}
	own := "node-" + pc
	if workerCalls[method] {
		return ""
	}
	switch req := target.Request.(type) {
	case *workflowservice.PollActivityTaskQueueRequest:
		if q := req.GetTaskQueue().GetName(); q != own {
			return fmt.Sprintf("PC %s may poll only its own task queue %s, not %s", pc, own, q)
		}
		return ""
	case *workflowservice.SignalWithStartWorkflowExecutionRequest:
		// At power-off (zanshin-power-off) a PC asks its own lifecycle workflow to evacuate it; its protection loop
		// asks it for leases (node/protection.ts); its seat watch says its user logged in or out (node/seat-watch.ts).
		if req.GetWorkflowId() == own && req.GetWorkflowType().GetName() == "nodeLifecycle" &&
			req.GetTaskQueue().GetName() == r.ControlTaskQueue && pcSignals[req.GetSignalName()] {
			return ""
		}
		return fmt.Sprintf("PC %s may only signal its own lifecycle workflow %s (shutdown, protect, seat)", pc, own)
	case *workflowservice.QueryWorkflowRequest:
		if req.GetExecution().GetWorkflowId() == own {
			return ""
		}
		return fmt.Sprintf("PC %s may only query its own lifecycle workflow %s", pc, own)
	}
	return fmt.Sprintf("PC %s may not call %s: a PC polls its own task queue and starts nothing", pc, method)
}

type zanshinAuthorizer struct{ rules Rules }

func (a *zanshinAuthorizer) Authorize(_ context.Context, claims *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	if authorization.IsHealthCheckAPI(target.APIName) {
		return authorization.Result{Decision: authorization.DecisionAllow}, nil
	}
	if claims == nil {
		return authorization.Result{Decision: authorization.DecisionDeny, Reason: "no identity"}, nil
	}
	if claims.System >= authorization.RoleAdmin {
		return authorization.Result{Decision: authorization.DecisionAllow}, nil
	}
	pc, isPC := claims.Extensions.(pcClaim)
	if !isPC {
		return authorization.Result{Decision: authorization.DecisionDeny, Reason: "unknown identity " + claims.Subject}, nil
	}
	if pc.refusal != "" {
		return authorization.Result{Decision: authorization.DecisionDeny, Reason: pc.refusal}, nil
	}
	if reason := a.rules.Refusal(pc.id, target); reason != "" {
		return authorization.Result{Decision: authorization.DecisionDeny, Reason: reason}, nil
	}
	return authorization.Result{Decision: authorization.DecisionAllow}, nil
}
