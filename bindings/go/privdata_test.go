package fabgossip

import (
	"errors"
	"strings"
	"testing"
)

// pbField is one protobuf field: a varint for uint64, length-delimited for []byte/string.
func pbField(num int, v interface{}) []byte {
	varint := func(n uint64) []byte {
		var out []byte
		for n >= 0x80 {
			out = append(out, byte(n)|0x80)
			n >>= 7
		}
		return append(out, byte(n))
	}
	switch x := v.(type) {
	case uint64:
		return append(varint(uint64(num)<<3), varint(x)...)
	case string:
		return pbField(num, []byte(x))
	case []byte:
		out := append(varint(uint64(num)<<3|2), varint(uint64(len(x)))...)
		return append(out, x...)
	}
	panic("unsupported field type")
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// testCollectionPackage is a CollectionConfigPackage with one collection whose members are
// orgs.
func testCollectionPackage(collection string, orgs []string, required, max uint64) []byte {
	var principals []byte
	for _, o := range orgs {
		role := cat(pbField(1, o), pbField(2, uint64(0)))
		principals = append(principals, pbField(3, cat(pbField(1, uint64(0)), pbField(2, role)))...)
	}
	static := cat(pbField(1, collection), pbField(2, pbField(1, principals)),
		pbField(3, required), pbField(4, max))
	return pbField(1, pbField(1, static))
}

// testPvtData is a TxPvtReadWriteSetWithConfigInfo with one collection of namespace "cc"
// whose members are orgs.
func testPvtData(collection string, orgs []string, required, max uint64) []byte {
	pkg := testCollectionPackage(collection, orgs, required, max)
	rwset := pbField(2, cat(pbField(1, "cc"), pbField(2, cat(pbField(1, collection), pbField(2, "kv")))))
	entry := cat(pbField(1, "cc"), pbField(2, pkg))
	return cat(pbField(1, uint64(1)), pbField(2, rwset), pbField(3, entry))
}

func TestDistributePrivateDataReportsAndRefuses(t *testing.T) {
	data := testPvtData("col", []string{"Org1MSP"}, 1, 2)
	if _, err := DistributePrivateData("ch", "tx", data, 1); !errors.Is(err, &Error{Status: StatusNotInitialized}) {
		t.Fatalf("before init: %v", err)
	}
	initT(t, localConfig(t, "Org1MSP"), nil)
	wantDetail(t, "channel not joined", func() error { _, err := DistributePrivateData("ch", "tx", data, 1); return err }(),
		StatusNotFound, "not joined")
	if err := JoinChannel("ch", JoinMessage{Sequence: 1, Members: []string{"Org1MSP"}}); err != nil {
		t.Fatal(err)
	}
	wantDetail(t, "garbage", func() error { _, err := DistributePrivateData("ch", "tx", []byte{0xff, 1}, 1); return err }(),
		StatusInvalidArg, "TxPvtReadWriteSetWithConfigInfo")

	// Alone in the channel: one required peer cannot be found.
	report, err := DistributePrivateData("ch", "tx1", data, 1)
	wantDetail(t, "too few peers", err, StatusIncomplete, "requiredPeerCount not met for cc/col")
	if report == nil || report.RequiredMet || len(report.Collections) != 1 ||
		!strings.Contains(report.Collections[0].Error, "at least 1 peers, but know of only 0") {
		t.Fatalf("report: %+v", report)
	}

	// Nothing required: complete, with no target.
	report, err = DistributePrivateData("ch", "tx2", testPvtData("free", []string{"Org1MSP"}, 0, 2), 1)
	if err != nil || !report.RequiredMet || report.TxID != "tx2" || len(report.Collections[0].Failed) != 0 {
		t.Fatalf("nothing required: %+v, %v", report, err)
	}
}

func TestSetCollectionConfigAndExplain(t *testing.T) {
	pkg := testCollectionPackage("col", []string{"Org2MSP"}, 0, 1)
	initT(t, localConfig(t, "Org1MSP"), nil)
	wantDetail(t, "channel not joined", SetCollectionConfig("ch", "cc", pkg), StatusNotFound, "not joined")
	if err := JoinChannel("ch", JoinMessage{Sequence: 1, Members: []string{"Org1MSP", "Org2MSP"}}); err != nil {
		t.Fatal(err)
	}
	wantDetail(t, "garbage", SetCollectionConfig("ch", "cc", []byte{0xff, 0xff}), StatusInvalidArg,
		"CollectionConfigPackage")
	wantDetail(t, "no namespace", SetCollectionConfig("ch", "", pkg), StatusInvalidArg, "namespace")

	e, err := ExplainPrivateData("ch", "cc", "col", "127.0.0.1:1", 0)
	if err != nil || e.Reason != "unknown_collection" {
		t.Fatalf("before the config: %+v, %v", e, err)
	}
	if err := SetCollectionConfig("ch", "cc", pkg); err != nil {
		t.Fatal(err)
	}
	e, err = ExplainPrivateData("ch", "cc", "col", "127.0.0.1:1", 0)
	if err != nil || e.Reason != "not_in_channel" || len(e.MemberOrgs) != 1 || e.MemberOrgs[0] != "Org2MSP" ||
		e.MaxPeerCount == nil || *e.MaxPeerCount != 1 || e.Membership != "msp_id" {
		t.Fatalf("with the config: %+v, %v", e, err)
	}
	if err := SetCollectionConfig("ch", "cc", nil); err != nil {
		t.Fatal(err)
	}
	if e, err = ExplainPrivateData("ch", "cc", "col", "127.0.0.1:1", 0); err != nil || e.Reason != "unknown_collection" {
		t.Fatalf("removed: %+v, %v", e, err)
	}
	_, err = ExplainPrivateData("ch", "cc", "", "127.0.0.1:1", 0)
	wantDetail(t, "empty collection", err, StatusInvalidArg, "collection")
}
