package etf

// Version is the byte that starts every term_to_binary output.
const Version = 131

// External term format tags.
const (
	tagNewFloat      = 70
	tagBitBinary     = 77
	tagAtomCacheRef  = 82
	tagNewPid        = 88
	tagNewPort       = 89
	tagNewerRef      = 90
	tagSmallInteger  = 97
	tagInteger       = 98
	tagFloat         = 99
	tagAtom          = 100
	tagRef           = 101
	tagPort          = 102
	tagPid           = 103
	tagSmallTuple    = 104
	tagLargeTuple    = 105
	tagNil           = 106
	tagString        = 107
	tagList          = 108
	tagBinary        = 109
	tagSmallBig      = 110
	tagLargeBig      = 111
	tagNewFun        = 112
	tagExport        = 113
	tagNewRef        = 114
	tagSmallAtom     = 115
	tagMap           = 116
	tagFun           = 117
	tagAtomUTF8      = 118
	tagSmallAtomUTF8 = 119
	tagV4Port        = 120
	tagLocal         = 121
	tagCompressed    = 80
)

// maxAtomChars is the BEAM's limit on atom length, in characters.
const maxAtomChars = 255

// maxStringExt is the longest list STRING_EXT can carry (a 16-bit length).
const maxStringExt = 65535

var tagNames = map[byte]string{
	tagNewFloat: "NEW_FLOAT_EXT", tagBitBinary: "BIT_BINARY_EXT", tagAtomCacheRef: "ATOM_CACHE_REF",
	tagNewPid: "NEW_PID_EXT", tagNewPort: "NEW_PORT_EXT", tagNewerRef: "NEWER_REFERENCE_EXT",
	tagSmallInteger: "SMALL_INTEGER_EXT", tagInteger: "INTEGER_EXT", tagFloat: "FLOAT_EXT",
	tagAtom: "ATOM_EXT", tagRef: "REFERENCE_EXT", tagPort: "PORT_EXT", tagPid: "PID_EXT",
	tagSmallTuple: "SMALL_TUPLE_EXT", tagLargeTuple: "LARGE_TUPLE_EXT", tagNil: "NIL_EXT",
	tagString: "STRING_EXT", tagList: "LIST_EXT", tagBinary: "BINARY_EXT", tagSmallBig: "SMALL_BIG_EXT",
	tagLargeBig: "LARGE_BIG_EXT", tagNewFun: "NEW_FUN_EXT", tagExport: "EXPORT_EXT",
	tagNewRef: "NEW_REFERENCE_EXT", tagSmallAtom: "SMALL_ATOM_EXT", tagMap: "MAP_EXT", tagFun: "FUN_EXT",
	tagAtomUTF8: "ATOM_UTF8_EXT", tagSmallAtomUTF8: "SMALL_ATOM_UTF8_EXT", tagV4Port: "V4_PORT_EXT",
	tagLocal: "LOCAL_EXT", tagCompressed: "COMPRESSED",
}

func tagName(t byte) string {
	if n, ok := tagNames[t]; ok {
		return n
	}
	return "unknown tag"
}
