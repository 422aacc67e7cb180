package handshake

import (
	"strings"
	"testing"
)

func TestFlagValues(t *testing.T) {
	// Values observed from OTP 27.3 (vectors/README.md §3.6, transport.md §3.4).
	if DefaultFlags != 0x0000000d07df5fbd {
		t.Errorf("DefaultFlags = %#x, want 0xd07df5fbd", uint64(DefaultFlags))
	}
	if Mandatory != 0x403070f94 {
		t.Errorf("Mandatory = %#x, want 0x403070f94", uint64(Mandatory))
	}
	if DefaultFlags&FlagDistHdrAtomCache != 0 {
		t.Error("DefaultFlags offers the atom cache")
	}
	if !DefaultFlags.Has(Mandatory) {
		t.Errorf("DefaultFlags lacks mandatory %v", Mandatory&^DefaultFlags)
	}
}

func TestFlagsString(t *testing.T) {
	cases := []struct {
		f    Flags
		want string
	}{
		{0, "none"},
		{FlagPublished, "PUBLISHED"},
		{FlagV4NC | FlagUnlinkID, "UNLINK_ID|V4_NC"},
		{FlagAlias | 1<<15 | 1<<63, "0x8000|ALIAS|0x8000000000000000"},
		{DefaultFlags, "PUBLISHED|EXTENDED_REFERENCES|DIST_MONITOR|FUN_TAGS|DIST_MONITOR_NAME|NEW_FUN_TAGS|" +
			"EXTENDED_PIDS_PORTS|EXPORT_PTR_TAG|BIT_BINARIES|NEW_FLOATS|UNICODE_IO|SMALL_ATOM_TAGS|UTF8_ATOMS|" +
			"MAP_TAG|BIG_CREATION|SEND_SENDER|BIG_SEQTRACE_LABELS|EXIT_PAYLOAD|FRAGMENTS|HANDSHAKE_23|UNLINK_ID|" +
			"MANDATORY_25_DIGEST|SPAWN|V4_NC|ALIAS"},
	}
	for _, c := range cases {
		if got := c.f.String(); got != c.want {
			t.Errorf("%#x.String() = %q, want %q", uint64(c.f), got, c.want)
		}
	}
}

func TestFlagNamesMatchVectors(t *testing.T) {
	v := loadHandshakeVectors(t)
	for _, ref := range v.DflagsReference {
		name, ok := strings.CutPrefix(ref.Name, "DFLAG_")
		if !ok || strings.Contains(name, " ") { // internal bits, described in prose
			continue
		}
		if got := Flags(1 << ref.Bit).String(); got != name {
			t.Errorf("bit %d: String() = %q, vectors say %q", ref.Bit, got, name)
		}
	}
}

func TestExpandMandatory25(t *testing.T) {
	peer := FlagMandatory25Digest | FlagUnlinkID | FlagV4NC
	if !peer.expand().Has(Mandatory) {
		t.Errorf("MANDATORY_25_DIGEST|UNLINK_ID|V4_NC expands to %v, lacking %v", peer.expand(), Mandatory&^peer.expand())
	}
	if (FlagUnlinkID | FlagV4NC).expand().Has(Mandatory) {
		t.Error("expansion without the digest bit added flags")
	}
}
