package respond

import "strings"

// format is one of the bodies an error response can have.
type format uint8

// The formats, in the order that breaks a tie: a client that accepts
// anything (curl's */*) gets one line of text, not JSON or a web page.
const (
	plainText format = iota
	problemJSON
	plainJSON
	html
	numFormats
)

var mediaTypes = [numFormats]struct{ typ, sub string }{
	plainText:   {"text", "plain"},
	problemJSON: {"application", "problem+json"},
	plainJSON:   {"application", "json"},
	html:        {"text", "html"},
}

// match is the media range in Accept that decides one format's quality.
type match struct {
	specificity int // -1 no range matched; 0 */*; 1 type/*; 2 type/subtype
	quality     int // in thousandths, 0 to 1000
	position    int // index of the range in Accept
}

// negotiate picks the body format for the Accept field lines (RFC 9110
// §12.5.1). Each format takes the quality of the most specific media range
// that matches it. The highest quality wins; ties go to the more specific
// match, then to the range listed first (the order clients such as axios
// write their preference in), then to the order of the formats above. No
// Accept means anything is acceptable. When nothing is, the answer is plain
// text anyway: §12.5.1 allows ignoring Accept, and an error must reach the
// client in some form rather than become a 406.
func negotiate(accept []string) format {
	var m [numFormats]match
	for i := range m {
		m[i] = match{specificity: -1}
	}
	position := 0
	for _, line := range accept {
		for element := range strings.SplitSeq(line, ",") {
			typ, sub, quality, ok := parseMediaRange(element)
			if !ok {
				continue
			}
			for f, mt := range mediaTypes {
				s := specificity(typ, sub, mt.typ, mt.sub)
				if s > m[f].specificity {
					m[f] = match{specificity: s, quality: quality, position: position}
				}
			}
			position++
		}
	}
	if position == 0 {
		return plainText
	}
	best, bestMatch := plainText, match{specificity: -1}
	for f := range numFormats {
		if m[f].specificity < 0 || m[f].quality == 0 {
			continue
		}
		if better(m[f], bestMatch) {
			best, bestMatch = f, m[f]
		}
	}
	return best
}

func better(a, b match) bool {
	if b.specificity < 0 {
		return true
	}
	if a.quality != b.quality {
		return a.quality > b.quality
	}
	if a.specificity != b.specificity {
		return a.specificity > b.specificity
	}
	return a.position < b.position
}

// specificity says how exactly the range typ/sub names the media type
// offerTyp/offerSub, or -1 if it does not match it.
func specificity(typ, sub, offerTyp, offerSub string) int {
	switch {
	case typ == "*" && sub == "*":
		return 0
	case !strings.EqualFold(typ, offerTyp):
		return -1
	case sub == "*":
		return 1
	case strings.EqualFold(sub, offerSub):
		return 2
	}
	return -1
}

// parseMediaRange splits one Accept element, e.g. `text/html;level=1;q=0.8`,
// into its type, subtype and weight in thousandths (RFC 9110 §12.4.2).
// Parameters other than q are ignored: no format here has any.
func parseMediaRange(element string) (typ, sub string, quality int, ok bool) {
	mediaRange, params, _ := strings.Cut(element, ";")
	typ, sub, ok = strings.Cut(strings.TrimSpace(mediaRange), "/")
	if !ok || typ == "" || sub == "" {
		return "", "", 0, false
	}
	quality = 1000
	for param := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
		if !strings.EqualFold(name, "q") {
			continue
		}
		if quality, ok = parseQuality(value); !ok {
			return "", "", 0, false
		}
		break
	}
	return typ, sub, quality, true
}

// parseQuality parses a qvalue: "0" or "1" with up to three decimals, no
// more than 1 (RFC 9110 §12.4.2).
func parseQuality(s string) (int, bool) {
	if s == "" || s[0] != '0' && s[0] != '1' {
		return 0, false
	}
	whole := int(s[0] - '0')
	frac := s[1:]
	if frac != "" {
		if frac[0] != '.' || len(frac) > 4 {
			return 0, false
		}
		frac = frac[1:]
	}
	thousandths, scale := 0, 100
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
		thousandths += int(frac[i]-'0') * scale
		scale /= 10
	}
	if whole == 1 && thousandths != 0 {
		return 0, false
	}
	return whole*1000 + thousandths, true
}
