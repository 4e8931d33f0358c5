package broker_test

import (
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/weirlog/weir/core/broker/brokertest"
)

// Kafka without an authorizer answers every operation the resource type
// supports (AclEntry.supportedOperations).
var (
	wantTopicOps = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs}
	wantClusterOps = []kmsg.ACLOperation{kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
		kmsg.ACLOperationIdempotentWrite}
)

func sameOps(bits int32, want []kmsg.ACLOperation) bool {
	got := kadm.DecodeACLOperations(bits)
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	return slices.Equal(got, w)
}

func TestAuthorizedOperationsWhenAsked(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "ops", 1, nil)

	for _, v := range []int16{8, 10, 12} {
		for _, ask := range []bool{false, true} {
			vs := kversion.Stable()
			vs.SetMaxKeyVersion(3, v)
			c := client(t, b, kgo.MaxVersions(vs))
			req := kmsg.NewPtrMetadataRequest()
			topic := "ops"
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = &topic
			req.Topics = append(req.Topics, rt)
			req.IncludeClusterAuthorizedOperations, req.IncludeTopicAuthorizedOperations = ask, ask
			resp, err := req.RequestWith(ctxT(t), c)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Version != v {
				t.Fatalf("answered v%d, want v%d", resp.Version, v)
			}
			top := resp.Topics[0].AuthorizedOperations
			switch {
			case !ask && top != math.MinInt32:
				t.Errorf("v%d not asked: topic ops %d, want INT32_MIN", v, top)
			case ask && !sameOps(top, wantTopicOps):
				t.Errorf("v%d asked: topic ops %v", v, kadm.DecodeACLOperations(top))
			}
			cluster := resp.AuthorizedOperations
			switch {
			case v <= 10 && ask && !sameOps(cluster, wantClusterOps):
				t.Errorf("v%d asked: cluster ops %v", v, kadm.DecodeACLOperations(cluster))
			case v <= 10 && !ask && cluster != math.MinInt32:
				t.Errorf("v%d not asked: cluster ops %d", v, cluster)
			}
		}
	}

	for _, ask := range []bool{false, true} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = ask
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		ops := resp.ClusterAuthorizedOperations
		if ask && !sameOps(ops, wantClusterOps) || !ask && ops != math.MinInt32 {
			t.Errorf("DescribeCluster asked=%v: %d %v", ask, ops, kadm.DecodeACLOperations(ops))
		}
	}

	// kadm asks with WithAuthorizedOps.
	md, err := kadm.NewClient(cl).Metadata(kadm.WithAuthorizedOps(ctxT(t)), "ops")
	if err != nil {
		t.Fatal(err)
	}
	if got := md.Topics["ops"].AuthorizedOperations; len(got) != len(wantTopicOps) {
		t.Fatalf("kadm topic ops %v", got)
	}
}
