package datagen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/weirlog/weir/plugins"
)

// quickstart is one built-in schema and its generator. gen must be
// deterministic given rng and iteration.
type quickstart struct {
	schema *plugins.Schema
	gen    func(rng *rand.Rand, iteration int64, now time.Time) (key string, value *plugins.Struct)
}

var usersSchema = plugins.StructBuilder().Name("ksql.users").
	Field("registertime", plugins.Int64Schema).
	Field("userid", plugins.StringSchema).
	Field("regionid", plugins.StringSchema).
	Field("gender", plugins.StringSchema).MustBuild()

var pageviewsSchema = plugins.StructBuilder().Name("ksql.pageviews").
	Field("viewtime", plugins.Int64Schema).
	Field("userid", plugins.StringSchema).
	Field("pageid", plugins.StringSchema).MustBuild()

var addressSchema = plugins.StructBuilder().Name("ksql.address").
	Field("city", plugins.StringSchema).
	Field("state", plugins.StringSchema).
	Field("zipcode", plugins.Int64Schema).MustBuild()

var ordersSchema = plugins.StructBuilder().Name("ksql.orders").
	Field("ordertime", plugins.Int64Schema).
	Field("orderid", plugins.Int32Schema).
	Field("itemid", plugins.StringSchema).
	Field("orderunits", plugins.Float64Schema).
	Field("address", addressSchema).MustBuild()

var (
	genders = []string{"MALE", "FEMALE", "OTHER"}
	cities  = []string{"City_1", "City_2", "City_3", "City_4", "City_5"}
	states  = []string{"State_1", "State_2", "State_3", "State_4", "State_5"}
)

var quickstarts = map[string]*quickstart{
	"users": {schema: usersSchema, gen: func(rng *rand.Rand, _ int64, now time.Time) (string, *plugins.Struct) {
		uid := fmt.Sprintf("User_%d", 1+rng.IntN(9))
		return uid, plugins.NewStruct(usersSchema).
			MustPut("registertime", now.UnixMilli()-rng.Int64N(int64(365*24*time.Hour/time.Millisecond))).
			MustPut("userid", uid).
			MustPut("regionid", fmt.Sprintf("Region_%d", 1+rng.IntN(9))).
			MustPut("gender", genders[rng.IntN(len(genders))])
	}},
	"pageviews": {schema: pageviewsSchema, gen: func(rng *rand.Rand, it int64, now time.Time) (string, *plugins.Struct) {
		vt := now.UnixMilli()
		return fmt.Sprint(it), plugins.NewStruct(pageviewsSchema).
			MustPut("viewtime", vt).
			MustPut("userid", fmt.Sprintf("User_%d", 1+rng.IntN(9))).
			MustPut("pageid", fmt.Sprintf("Page_%d", 1+rng.IntN(99)))
	}},
	"orders": {schema: ordersSchema, gen: func(rng *rand.Rand, it int64, now time.Time) (string, *plugins.Struct) {
		addr := plugins.NewStruct(addressSchema).
			MustPut("city", cities[rng.IntN(len(cities))]).
			MustPut("state", states[rng.IntN(len(states))]).
			MustPut("zipcode", int64(10000+rng.IntN(90000)))
		return fmt.Sprint(it), plugins.NewStruct(ordersSchema).
			MustPut("ordertime", now.UnixMilli()).
			MustPut("orderid", int32(it)).
			MustPut("itemid", fmt.Sprintf("Item_%d", 1+rng.IntN(999))).
			MustPut("orderunits", float64(rng.IntN(1000))/100+0.1).
			MustPut("address", addr)
	}},
}

func quickstartNames() []string {
	names := make([]string, 0, 3)
	for n := range quickstarts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
