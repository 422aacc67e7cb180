package auth

import (
	"strconv"
	"strings"
)

// erlBinary renders b the way io_lib:print/4 prints an Erlang binary, so
// that decode results and error terms read exactly like barrel_p2p's:
// <<"text">> when every byte is printable ASCII, else <<1,2,3>>. Latin-1
// bytes 160..255 count as non-printable here; OTP's latin1 range would print
// them as characters, which only changes the rendering of such binaries.
func erlBinary(b []byte) string {
	if len(b) == 0 {
		return "<<>>"
	}
	printable := true
	for _, c := range b {
		if (c < 32 || c > 126) && erlEscape(c) == "" {
			printable = false
			break
		}
	}
	var sb strings.Builder
	sb.WriteString("<<")
	if printable {
		sb.WriteByte('"')
		for _, c := range b {
			switch {
			case c == '"' || c == '\\':
				sb.WriteByte('\\')
				sb.WriteByte(c)
			case c >= 32 && c <= 126:
				sb.WriteByte(c)
			default:
				sb.WriteString(erlEscape(c))
			}
		}
		sb.WriteByte('"')
	} else {
		for i, c := range b {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(int(c)))
		}
	}
	sb.WriteString(">>")
	return sb.String()
}

// erlEscape returns the escape io_lib uses for the control characters that
// still count as printable, or "" for any other byte.
func erlEscape(c byte) string {
	switch c {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case 27:
		return `\e`
	}
	return ""
}
