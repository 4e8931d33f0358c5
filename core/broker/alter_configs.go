package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// AlterConfigs: v0-2
//
// Behavior:
// * Topics only: the given set REPLACES every dynamic config of the topic
//   (Kafka's non-incremental semantics); values are validated
//   (INVALID_CONFIG). Broker configs are static: INVALID_REQUEST.
// * ValidateOnly validates and changes nothing.
// * The new configs reach the partition logs through the metadata state
//   machine (reconcile → Log.SetConfig).

func init() { register(kmsg.AlterConfigs, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		next := map[string]string{}
		for _, c := range rr.Configs {
			if c.Value != nil {
				next[c.Name] = *c.Value
			}
		}
		code, msg := b.setTopicConfigs(rc.ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
			return next, nil
		})
		sr.ErrorCode, sr.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// setTopicConfigs computes a topic's new dynamic configs from the current
// ones, validates them and proposes them.
func (b *Broker) setTopicConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, change func(cur map[string]string) (map[string]string, error)) (int16, *string) {
	fail := func(e *kerr.Error, msg string) (int16, *string) { return e.Code, &msg }
	if typ == kmsg.ConfigResourceTypeBroker {
		return fail(kerr.InvalidRequest, "broker configs are static in weir: set them with weir serve flags")
	}
	if typ != kmsg.ConfigResourceTypeTopic {
		return fail(kerr.InvalidRequest, fmt.Sprintf("resource type %d cannot be altered: only topics (2) have dynamic configs in weir", typ))
	}
	t, ok := b.ctl.State().Topics[name]
	if !ok {
		return fail(kerr.UnknownTopicOrPartition, fmt.Sprintf("topic '%s' does not exist", name))
	}
	next, err := change(maps.Clone(t.Configs))
	if err != nil {
		return fail(kerr.InvalidConfig, err.Error())
	}
	if err := validateConfigs(next); err != nil {
		return fail(kerr.InvalidConfig, err.Error())
	}
	if validateOnly {
		return 0, nil
	}
	res, err := b.ctl.Propose(ctx, &cluster.Command{Op: cluster.OpSetConfigs, Topic: name, Configs: next})
	if err != nil {
		perr := proposeErr(err)
		return errCode(perr), &[]string{"alter configs of topic '" + name + "': " + reason(perr)}[0]
	}
	if res.Err != nil {
		return fail(res.Err, fmt.Sprintf("alter configs of topic '%s': %s", name, res.Err.Message))
	}
	return 0, nil
}

// IncrementalAlterConfigs: v0-1
//
// Behavior:
// * SET, DELETE (back to the default), and for list configs
//   (cleanup.policy) APPEND and SUBTRACT. Otherwise as AlterConfigs.

func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if clearsThrottles(rr) {
			resp.Resources = append(resp.Resources, sr) // nothing is set, so nothing to clear
			continue
		}
		code, msg := b.setTopicConfigs(rc.ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(cur map[string]string) (map[string]string, error) {
			if cur == nil {
				cur = map[string]string{}
			}
			for _, c := range rr.Configs {
				tc, ok := lookupTopicConfig(c.Name)
				if !ok {
					return nil, unknownConfig(c.Name)
				}
				val := ""
				if c.Value != nil {
					val = *c.Value
				}
				switch c.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					cur[c.Name] = val
				case kmsg.IncrementalAlterConfigOpDelete:
					delete(cur, c.Name)
				case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
					if tc.typ != kmsg.ConfigTypeList {
						return nil, errorf("%s is not a list config", c.Name)
					}
					v, _ := b.effectiveConfig(cur, c.Name)
					items := splitList(v)
					for _, it := range splitList(val) {
						has := slices.Contains(items, it)
						if c.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
							items = append(items, it)
						} else if c.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
							items = slices.DeleteFunc(items, func(s string) bool { return s == it })
						}
					}
					cur[c.Name] = strings.Join(items, ",")
				default:
					return nil, errorf("%s: unknown operation %d (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT)", c.Name, c.Op)
				}
			}
			return cur, nil
		})
		sr.ErrorCode, sr.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
