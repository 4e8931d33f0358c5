package broker

import "math"

// Authorized operations, as Metadata, DescribeCluster (and Kafka's other
// describe APIs) report them on request: a bit field with bit n set when
// the caller may perform the operation whose AclOperation code is n.
// Kafka without an authorizer reports every operation the resource type
// supports (AclEntry.supportedOperations); weir has no ACLs yet, so that
// is always the answer. INT32_MIN means "not asked for": some clients
// raise on it when they did ask.

// Kafka's AclOperation codes.
const (
	aclRead            = 3
	aclWrite           = 4
	aclCreate          = 5
	aclDelete          = 6
	aclAlter           = 7
	aclDescribe        = 8
	aclClusterAction   = 9
	aclDescribeConfigs = 10
	aclAlterConfigs    = 11
	aclIdempotentWrite = 12
)

const noAuthorizedOps = math.MinInt32

func opsBits(ops ...int) int32 {
	var v int32
	for _, op := range ops {
		v |= 1 << op
	}
	return v
}

var (
	topicAuthorizedOps = opsBits(aclRead, aclWrite, aclCreate, aclDescribe, aclDelete, aclAlter,
		aclDescribeConfigs, aclAlterConfigs)
	clusterAuthorizedOps = opsBits(aclCreate, aclClusterAction, aclDescribeConfigs, aclAlterConfigs,
		aclIdempotentWrite, aclAlter, aclDescribe)
)

// authorizedOps is ops when the request asked for them, else INT32_MIN.
func authorizedOps(asked bool, ops int32) int32 {
	if !asked {
		return noAuthorizedOps
	}
	return ops
}
