package main

import (
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
)

var rules = Rules{Namespace: "default", ControlTaskQueue: "zanshin-control"}

func call(method string, request any) *authorization.CallTarget {
	return &authorization.CallTarget{APIName: workflowService + method, Namespace: "default", Request: request}
}

func TestAPCPollsOnlyItsOwnQueue(t *testing.T) {
	own := call("PollActivityTaskQueue", &workflowservice.PollActivityTaskQueueRequest{TaskQueue: &taskqueuepb.TaskQueue{Name: "node-pc1"}})
	other := call("PollActivityTaskQueue", &workflowservice.PollActivityTaskQueueRequest{TaskQueue: &taskqueuepb.TaskQueue{Name: "node-pc2"}})
	if r := rules.Refusal("pc1", own); r != "" {
		t.Fatalf("own queue refused: %s", r)
	}
	if r := rules.Refusal("pc1", other); !strings.Contains(r, "only its own task queue node-pc1, not node-pc2") {
		t.Fatalf("another PC's queue: %q", r)
	}
}

func TestAPCSignalsOnlyItsOwnLifecycle(t *testing.T) {
	shutdown := func(id, signal string) *authorization.CallTarget {
		return call("SignalWithStartWorkflowExecution", &workflowservice.SignalWithStartWorkflowExecutionRequest{
			WorkflowId: id, WorkflowType: &commonpb.WorkflowType{Name: "nodeLifecycle"},
			TaskQueue: &taskqueuepb.TaskQueue{Name: "zanshin-control"}, SignalName: signal,
		})
	}
	for _, signal := range []string{"shutdown", "protect", "seat"} {
		if r := rules.Refusal("pc1", shutdown("node-pc1", signal)); r != "" {
			t.Fatalf("own %s refused: %s", signal, r)
		}
	}
	for _, target := range []*authorization.CallTarget{
		shutdown("node-pc2", "shutdown"),
		shutdown("node-pc2", "protect"),
		shutdown("node-pc1", "lecture"),
		call("StartWorkflowExecution", &workflowservice.StartWorkflowExecutionRequest{WorkflowId: "node-pc1"}),
		call("PollWorkflowTaskQueue", &workflowservice.PollWorkflowTaskQueueRequest{TaskQueue: &taskqueuepb.TaskQueue{Name: "node-pc1"}}),
		call("QueryWorkflow", &workflowservice.QueryWorkflowRequest{Execution: &commonpb.WorkflowExecution{WorkflowId: "migrate-db"}}),
		{APIName: "/temporal.api.operatorservice.v1.OperatorService/DeleteNamespace", Namespace: "default"},
		{APIName: workflowService + "GetSystemInfo", Namespace: "other"},
	} {
		if r := rules.Refusal("pc1", target); r == "" {
			t.Errorf("%s %v let through", target.APIName, target.Request)
		}
	}
}

func TestCertificateNames(t *testing.T) {
	for name, want := range map[string]bool{"node:pc1": true, "node:PC1": false, "node:": false, "nodes:pc1": false, "node:pc1 ": false} {
		if got := nodeIdentity.MatchString(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}
