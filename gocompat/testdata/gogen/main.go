// Command gogen prints Go's own answers for the corpora below as JSON lines (gojson.jsonl,
// auth.jsonl, misc.jsonl in the parent directory): run `go run . && mv *.jsonl ..` here.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gogen/entities"
	"gogen/registry"
)

func emit(f *os.File, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	f.Write(b.Bytes())
}

// errText is Go's error text for the corpora, nil when there was no error.
func errText(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
func maps(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

type addV3 = struct {
	entities.ManifestAddOptions
	TLSVerify bool `schema:"tlsVerify"`
}

func normModify(o *entities.ManifestModifyOptions) map[string]any {
	return map[string]any{
		"operation":               o.Operation,
		"images":                  strs(o.Images),
		"all":                     o.All,
		"annotation":              strs(o.Annotation),
		"annotations":             maps(o.Annotations),
		"arch":                    o.Arch,
		"os":                      o.OS,
		"os_version":              o.OSVersion,
		"os_features":             strs(o.OSFeatures),
		"features":                strs(o.Features),
		"variant":                 o.Variant,
		"index_annotation":        strs(o.IndexAnnotation),
		"index_annotations":       maps(o.IndexAnnotations),
		"subject":                 o.IndexSubject,
		"artifact_type":           o.ArtifactType,
		"artifact_layer_type":     o.ArtifactLayerType,
		"artifact_config_type":    o.ArtifactConfigType,
		"artifact_config":         o.ArtifactConfig,
		"artifact_exclude_titles": o.ArtifactExcludeTitles,
		"artifact_annotations":    maps(o.ArtifactAnnotations),
		"artifact_subject":        o.ArtifactSubject,
		"tls_verify_v3":           nil,
	}
}

func normAdd(q *addV3) map[string]any {
	m := normModify(&entities.ManifestModifyOptions{ManifestAddOptions: q.ManifestAddOptions})
	m["tls_verify_v3"] = q.TLSVerify
	return m
}

func jsonCorpus() [][]byte {
	c := []string{
		"", " ", "\n\t\r ", "{}", " {} ", "null", "[]", `"x"`, "1", "-1.5e3", "true", "false", "{", "[", "}", "]",
		// captured bodies
		`{"Operation":"update","All":false,"Annotations":{"a":"b"},"index_annotations":null,"Arch":"amd64","Features":["f1","f2"],"OS":"linux","os_features":null,"os_version":"10.0","Variant":"v1","Images":["containers-storage:localhost/img:arm64"],"Authfile":"","Password":"","Username":"","SkipTLSVerify":null,"artifact_type":null,"artifact_config_type":null,"artifact_config":null,"artifact_layer_type":null,"artifact_exclude_titles":null,"artifact_subject":null,"artifact_annotations":null,"artifact_files":null}`,
		`{"Operation":"update","All":false,"Annotations":{"a":"b","c":"d"},"Arch":"amd64","Features":["f1","f2"],"Images":["containers-storage:localhost/img:amd64"],"OS":"linux","os_features":null,"os_version":"10.0","Variant":"v1","Authfile":"","Password":"","Username":"","SkipTLSVerify":null}`,
		`{"Operation":"remove","All":null,"Annotations":null,"Arch":null,"Features":null,"Images":["sha256:ada77277949f7456912dfe9a4ff2f6cbb8935a2fef529a340791807d667ada51"],"OS":null,"os_features":null,"os_version":null,"Variant":null,"Authfile":null,"Password":null,"Username":null,"SkipTLSVerify":null}`,
		`{"Operation":"annotate","All":null,"Annotations":null,"index_annotations":{"ik":"iv"},"Arch":"","Features":null,"OS":"","os_features":null,"os_version":"","Variant":"","Images":[""],"Authfile":null,"Password":null,"Username":null,"SkipTLSVerify":null,"artifact_type":null,"artifact_config_type":null,"artifact_config":null,"artifact_layer_type":null,"artifact_exclude_titles":null,"artifact_subject":null,"artifact_annotations":null,"artifact_files":null}`,
		`{"Operation":"update","All":null,"Annotations":{"x":"y"},"index_annotations":null,"Arch":"amd64","Features":null,"OS":"linux","os_features":null,"os_version":"","Variant":"","Images":null,"Authfile":null,"Password":null,"Username":null,"SkipTLSVerify":null,"artifact_type":"application/x-test","artifact_config_type":"application/x-cfg","artifact_config":"{\"cfg\":1}\n","artifact_layer_type":"text/plain","artifact_exclude_titles":true,"artifact_subject":"","artifact_annotations":{"k":"v"},"artifact_files":null}`,
		`{"arch": "arm64", "features": ["x"], "images": ["containers-storage:localhost/img:arm64"], "operation": "update", "os": "linux", "os_version": "1", "variant": "v8"}`,
		`{"annotation": {"k": "v"}, "images": ["containers-storage:localhost/img:arm64"], "operation": "update"}`,
		`{"images": ["sha256:e927bd8fca8df04b59b19ecd3e059a4edc88f8810ed051523f49e5ab2586787d"], "operation": "remove"}`,
		`{"operation":"update","images":["a"],"annotations":{"foo":"bar"},"annotation":["hoge=fuga"]}`,
		`{"images":["containers-storage:x"],"TLSVerify":true}`,
		`{"images":[],"tlsverify":false,"all":true}`,
		// syntax errors
		`{"a":-}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `[1,]`, `[1 2]`, `{"a":tru}`, `{"a":trux}`, `{"a":fals}`, `{"a":nul}`, `{"a":nulx}`, `{"a":fx}`, `{"a":t}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":1.}`, `{"a":1.x}`, `{"a":1e}`, `{"a":1e+}`, `{"a":1e+x}`, `{"a":01}`, `{"a":-01}`, `{"a":--1}`, `{"a":.5}`, `{"a":+1}`,
		"{\"a\":\"\x01\"}", "{\"a\":\"\t\"}", "{\"a\":\"\n\"}", "{\"a\":\"\x1f\"}", "{\"a\":\"\x7f\"}",
		`{"a":1}x`, `{"a":1} {"b":2}`, `{"a":1}}`, `{"a":1}]`, `1.`, `-`, `-x`, `tru`, `nul`, `fal`, `{"a"`, `{"a":`, `{"a":[`, `{"a":[1`, `{"a":"x`, `{"a":"x\`, `{"a":"x\u00`, `{'a':1}`,
		"{\"a\":1,\n\"b\" : 2 ,}", `{"a":1 "b":2}`, `{"a":[1,]}`, `{"a":{"b":}}`, `{"a":{"b"}}`, `{"a":{1:2}}`, `{a:1}`, `{"a"::1}`, `["a":1]`, `{"a":1]`, `[1}`, `123abc`, `123 abc`, `"abc" x`, `nullx`, `null x`, `truex`, `0x10`, `1.5.5`, `1e5e5`, `-0`, `-0.0e-0`,
		"\xef\xbb\xbf{}", "{\xc3\xa9}", "\x80", "{\"a\":\"\xff\xfe\"}", "{\"a\":\"\xe2\x82\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"operation\":\"\xc3\xa9\xff\"}",
		"{\"a\":1}\x00", "\x00",
		// type errors
		`{"annotation":"x"}`, `{"annotation":1}`, `{"annotation":true}`, `{"annotation":[1]}`, `{"annotation":[null,"a"]}`, `{"annotation":[["a"]]}`, `{"annotation":[{"a":1}]}`,
		`{"images":1}`, `{"images":[1,"a",2]}`, `{"images":"a"}`, `{"images":{}}`,
		`{"all":"true"}`, `{"all":1}`, `{"all":[]}`, `{"all":{}}`, `{"all":null}`, `{"all":true,"all":null}`, `{"all":true,"All":false}`,
		`{"annotations":[]}`, `{"annotations":"x"}`, `{"annotations":1}`, `{"annotations":true}`, `{"annotations":{"a":1}}`, `{"annotations":{"a":null,"b":"c"}}`, `{"annotations":{"a":["x"]}}`, `{"annotations":{"a":{"b":"c"}}}`,
		`{"operation":1}`, `{"operation":[]}`, `{"operation":{}}`, `{"operation":true}`, `{"operation":null}`, `{"operation":"a","operation":null}`,
		`{"artifact_type":null}`, `{"artifact_type":""}`, `{"artifact_type":"x"}`, `{"artifact_type":1}`, `{"artifact_type":{}}`, `{"artifact_type":[]}`, `{"artifact_type":true}`, `{"artifact_type":"x","artifact_type":null}`, `{"artifact_type":null,"artifact_type":"y"}`,
		`{"artifact_exclude_titles":"x"}`, `{"artifact_exclude_titles":1}`, `{"index_annotations":"x"}`, `{"index_annotation":{"a":"b"}}`, `{"artifact_files":1}`, `{"artifact_files":["a"]}`, `{"artifact_annotations":[]}`,
		`{"TLSVerify":"x"}`, `{"TLSVerify":1}`, `{"tlsverify":true}`, `{"TLSVerify":null}`,
		`{"Password":1,"Authfile":{},"Username":[],"SkipTLSVerify":"x","CertDir":true}`, `{"password":"pw","username":"bob"}`,
		`{"annotation":{"k":"v"},"images":1}`, `{"images":1,"annotation":{"k":"v"}}`, `{"images":1,"x":-}`, `{"images":[1],"images":["a"]}`,
		// case folding, duplicates
		`{"OPERATION":"a"}`, `{"Operation":"a","operation":"b"}`, `{"operation":"a","Operation":"b"}`, `{"operatioN":"x"}`, `{"os_VERSION":"1"}`, `{"OSVersion":"1"}`, `{"osversion":"1"}`, `{"Os_Version":"2"}`, `{"OS":"x","os":"y","Os":"z"}`,
		"{\"feature\u017f\":[\"a\"]}", "{\"image\u017f\":[\"a\"]}", "{\"ARTIFACT_TYPE\":\"t\"}", "{\"\u212aey\":1}", "{\"aLL\":true}", "{\"SUBJECT\":\"s\"}", "{\"Index_Annotations\":{\"a\":\"b\"}}",
		`{"images":["a"],"images":["b","c"]}`, `{"images":["a"],"images":[]}`, `{"images":["a"],"images":null}`,
		`{"annotations":{"a":"1"},"Annotations":{"b":"2"}}`, `{"annotations":{"a":"1"},"annotations":null}`, `{"annotations":{"a":"1"},"annotations":{"a":"2"}}`, `{"annotations":{"a":"1","a":"3"}}`, `{"os":"x","os":null}`,
		// escapes
		`{"operation":"\u00e9\ud83d\ude00"}`, `{"operation":"\ud83d"}`, `{"operation":"\udc00x"}`, `{"operation":"\ud83dx"}`, `{"operation":"\ud83d\u0041"}`, `{"operation":"\ud83d\ud83d\ude00"}`, `{"operation":"a\"b\\c\/d\b\f\n\r\t"}`, `{"operation":"\u0000"}`,
		`{"\u006fperation":"esc"}`, `{"annotations":{"\u00e9":"\u00e8"}}`,
		// whitespace and nesting
		" \r\n\t{ \"images\" : [ \"a\" , \"b\" ] } \n", `{"unknown":{"deep":[[[[{"x":[1,2,{"y":null}]}]]]]},"os":"o"}`,
	}
	out := make([][]byte, 0, len(c)+3)
	for _, s := range c {
		out = append(out, []byte(s))
	}
	for b := 0; b < 256; b++ {
		out = append(out, []byte{byte(b)})
		out = append(out, []byte{'{', '"', 'a', '"', ':', '1', byte(b)})
	}
	return out
}

type jsonCase struct {
	Mode  string         `json:"mode"`
	Gen   string         `json:"gen,omitempty"`
	Input string         `json:"input_hex"`
	Err   *string        `json:"err"`
	Out   map[string]any `json:"out"`
}

// nested builds the inputs too large to store: `prefix` + n*open + inner + n*close + `suffix`.
func nested(gen string) []byte {
	var prefix, open, inner, close, suffix string
	var n int
	fmt.Sscanf(gen, "%d", &n)
	switch {
	case strings.HasSuffix(gen, "arr"):
		open, close = "[", "]"
	case strings.HasSuffix(gen, "obj"):
		open, inner, close = `{"a":`, "1", "}"
	}
	if strings.Contains(gen, "field") {
		prefix, suffix = `{"unknown":`, `}`
	}
	return []byte(prefix + strings.Repeat(open, n) + inner + strings.Repeat(close, n) + suffix)
}

func genJSON() {
	f, _ := os.Create("gojson.jsonl")
	defer f.Close()
	type item struct {
		gen string
		in  []byte
	}
	var items []item
	for _, in := range jsonCorpus() {
		items = append(items, item{"", in})
	}
	for _, g := range []string{"10000 arr", "10001 arr", "10000 field arr", "9999 field obj", "10000 field obj", "10001 field obj", "9999 obj", "10000 obj", "10001 obj"} {
		items = append(items, item{g, nested(g)})
	}
	for _, it := range items {
		in := it.in
		hexIn := hex.EncodeToString(in)
		if it.gen != "" {
			hexIn = ""
		}
		// Go's error, or what it decoded when there was none.
		emitDecoded := func(mode string, err error, out map[string]any) {
			c := jsonCase{Mode: mode, Input: hexIn, Gen: it.gen, Err: errText(err)}
			if err == nil {
				c.Out = out
			}
			emit(f, c)
		}
		var modify entities.ManifestModifyOptions
		err := json.NewDecoder(bytes.NewReader(in)).Decode(&modify)
		emitDecoded("decoder_modify", err, normModify(&modify))
		var create entities.ManifestModifyOptions
		err = json.Unmarshal(in, &create)
		emitDecoded("unmarshal_modify", err, normModify(&create))
		var add addV3
		err = json.NewDecoder(bytes.NewReader(in)).Decode(&add)
		emitDecoded("decoder_addv3", err, normAdd(&add))
		// create's `annotations` query converter: json.Unmarshal into map[string]string, errors only logged.
		res := make(map[string]string)
		err = json.Unmarshal(in, &res)
		emit(f, jsonCase{Mode: "query_map", Input: hexIn, Gen: it.gen, Err: errText(err), Out: map[string]any{"map": maps(res)}})
	}
}

// ---- auth headers: podman v5.8.2 pkg/auth, minus the temporary auth file ----

type authOut struct {
	Username, Password, IdentityToken string
}

func conv(a registry.AuthConfig) authOut {
	return authOut{a.Username, a.Password, a.IdentityToken}
}

func parseSingle(h string) (authOut, error) {
	if len(h) == 0 || h == "null" {
		return authOut{}, nil
	}
	var ac registry.AuthConfig
	if err := json.NewDecoder(base64.NewDecoder(base64.URLEncoding, strings.NewReader(h))).Decode(&ac); err != nil {
		return authOut{}, err
	}
	return conv(ac), nil
}

func parseMulti(h string) (map[string]authOut, error) {
	if len(h) == 0 || h == "null" {
		return nil, nil
	}
	m := make(map[string]registry.AuthConfig)
	if err := json.NewDecoder(base64.NewDecoder(base64.URLEncoding, strings.NewReader(h))).Decode(&m); err != nil {
		return nil, err
	}
	out := map[string]authOut{}
	for k, v := range m {
		out[k] = conv(v)
	}
	return out, nil
}

type authCase struct {
	Header string             `json:"header"`
	Values []string           `json:"values"`
	Err    *string            `json:"err"`
	Kind   string             `json:"kind"`
	Single *authOut           `json:"single"`
	Multi  map[string]authOut `json:"multi"`
}

func b64(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }

func genAuth() {
	f, _ := os.Create("auth.jsonl")
	defer f.Close()
	longMulti := `{"localhost:5000":{"username":"u","password":"p"},"quay.io":{"username":"alice","password":"secret"}`
	for i := 0; i < 30; i++ {
		longMulti += fmt.Sprintf(`,"reg%02d.example.com:5000":{"username":"user%02d","password":"password-%02d"}`, i, i, i)
	}
	longMulti += "}"
	lm := b64(longMulti)
	authVals := []string{
		"", "null", "e30=", "e30", "e3", "e", "e30=!!!!", "!!!!", "e30==", "e30=e30=", "bnVsbA==", "e30\n=", "e\r\n30=", " e30=", "e30= ",
		"eyJ1c2VybmFtZSI6ImJvYiIsInBhc3N3b3JkIjoicHcifQ==",
		"eyJ1c2VybmFtZSI6InRlc3R1c2VyIiwicGFzc3dvcmQiOiJ3cm9uZyJ9",
		b64(`{"localhost:5000":{"username":"u","password":"p"},"quay.io":{"username":"alice","password":"secret"}}`),
		b64(`{"https://index.docker.io/v1/":{"username":"d","password":"x"},"":{"username":"def","password":"y"}}`),
		b64(`{"username":1}`), b64(`[]`), b64(`{"a":"b"}`), b64(`{"a":{"username":"x"}}`), b64(`{"username":"bob"`), b64(`{"username":"bob"} trailing`),
		b64(`"str"`), b64(`{"identitytoken":"tok"}`), b64(`{"r":{"identitytoken":"tok","auth":"dTpw"}}`), b64(`{"auth":"dTpw"}`), b64(`{"Username":"caps","PASSWORD":"pw"}`),
		b64(`{"r":null}`), b64(`{"r":{"username":null}}`), b64(`{"r":{"username":1}}`), b64(`{"username":"a","username":"b"}`),
		b64(`{"username":"bo\u00e9b","password":"p\u0000w"}`), b64("{\"username\":\"\xff\"}"),
		strings.TrimRight(b64(`{"username":"bob","password":"pw"}`), "="),
		strings.TrimRight(b64(`{"username":"bo","password":"pw"}`), "="),
		strings.NewReplacer("-", "+", "_", "/").Replace(b64(`{"username":"~~~","password":"???>>>"}`)),
		b64(`{"username":"~~~","password":"???>>>"}`),
		lm, lm[:len(lm)-5], lm[:700] + "!" + lm[701:], lm[:1500] + "!" + lm[1501:], lm[:100] + "!" + lm[101:],
		b64(`{"username":"x"`) + "!!!!", b64(`{"u":1}`) + "@", b64(`{}`)[:2] + "\n" + b64(`{}`)[2:],
	}
	for _, v := range authVals {
		c := authCase{Header: "X-Registry-Auth", Values: []string{v}}
		if m, err := parseMulti(v); err == nil {
			c.Kind = "multi"
			c.Multi = m
			if m == nil {
				c.Kind = "none"
			}
		} else if s, err := parseSingle(v); err == nil {
			c.Kind = "single"
			c.Single = &s
		} else {
			c.Err = errText(err)
		}
		emit(f, c)
	}
	cfgVals := [][]string{
		{""}, {"e30="}, {"e30"}, {"bnVsbA=="}, {b64(`{"":{"username":"def","password":"y"},"quay.io":{"username":"q","password":"z"}}`)},
		{b64(`{"a":{"username":"1"}}`), b64(`{"b":{"username":"2"}}`), b64(`{"a":{"username":"3"}}`)},
		{b64(`{"a":"x"}`)}, {b64(`[]`)}, {b64(`{"a":{"username":1}}`)}, {b64(`{"a":{}`)}, {"!!!!"}, {"e30=!!!!"}, {b64(`{}`) + "\n"}, {b64(`{} x`)},
		{b64(`{"username":"bob","password":"pw"}`)},
	}
	for _, vs := range cfgVals {
		c := authCase{Header: "X-Registry-Config", Values: vs}
		configs := map[string]authOut{}
		var err error
		for _, h := range vs {
			param, e := base64.URLEncoding.DecodeString(h)
			if e != nil {
				err = fmt.Errorf("failed to decode %q: %w", "X-Registry-Config", e)
				break
			}
			ac := make(map[string]registry.AuthConfig)
			if e := json.Unmarshal(param, &ac); e != nil {
				err = fmt.Errorf("failed to unmarshal %q: %w", "X-Registry-Config", e)
				break
			}
			for k, v := range ac {
				configs[k] = conv(v)
			}
		}
		c.Err = errText(err)
		if err == nil {
			c.Kind = "config"
			c.Multi = configs
		}
		emit(f, c)
	}
}

// ---- url unescaping, query parsing, quoting, bools, ints, encoding ----

type kv struct {
	Fn  string   `json:"fn"`
	In  string   `json:"in_hex"`
	Out *string  `json:"out"`
	Err *string  `json:"err"`
	Map any      `json:"map,omitempty"`
	Arr []string `json:"arr,omitempty"`
}

func genMisc() {
	f, _ := os.Create("misc.jsonl")
	defer f.Close()
	esc := []string{"", "a", "a%2Fb", "localhost%2Fml:v1", "a+b", "%2B", "%", "%2", "%zz", "a%2x", "%%", "%e9", "%C3%A9", "%ff%fe", "docker:%2F%2Flocalhost:5000%2Fml:v2", "%00", "a%", "%G0", "%0g", "x%4", "\xff%", "%\xff\xfe", "%2f", "%7B%7D"}
	for _, s := range esc {
		for _, fn := range []string{"PathUnescape", "QueryUnescape"} {
			var out string
			var err error
			if fn == "PathUnescape" {
				out, err = url.PathUnescape(s)
			} else {
				out, err = url.QueryUnescape(s)
			}
			c := kv{Fn: fn, In: hex.EncodeToString([]byte(s)), Err: errText(err)}
			if err == nil {
				o := hex.EncodeToString([]byte(out))
				c.Out = &o
			}
			emit(f, c)
		}
	}
	queries := []string{"", "a=1", "a=1&a=2&b", "a=1;b=2", "a=1&;&b=2", "a=%zz&b=2", "%zz=1&c=3", "&&a=&=b&", "a+b=c+d", "all=True&ALL=false", "images=a&images=&images=b", "x=%3D%26", "k=v=w", "annotations=%7B%22ia%22%3A%22ib%22%7D", "a=1&a", "=", "a%20b=%20"}
	for _, q := range queries {
		m, err := url.ParseQuery(q)
		emit(f, kv{Fn: "ParseQuery", In: hex.EncodeToString([]byte(q)), Map: m, Err: errText(err)})
	}
	var quoteIn []string
	for b := 0; b < 256; b++ {
		quoteIn = append(quoteIn, string([]byte{byte(b)}))
		quoteIn = append(quoteIn, string(rune(b)))
	}
	quoteIn = append(quoteIn, "", "abc", "a\"b\\c", "\u00a0", "\u00ad", "\u2028", "\u2029", "\u200b", "\u200d", "\ufeff", "\ue000", "\U0010ffff", "\U000f0000", "\u0301", "é", "😀", "\u2060", "\u3000", "\u1680", "\u061c", "\u180e", "\ufff9", "\ufffd", "\ufffe", "\uffff", "\ufdd0", "\U0001f600x\x80y", "\xe2\x82", "\xed\xa0\x80", "\x7f", "\u0085", "\u00ff", "\u0100", "\u0378", "\U000e0001", "\U000e0020", "\u2000", "\u202f", "\u205f", "\u2066", "\u206f", "\u00a1", "\u0600", "\u06dd", "\u070f", "\u08e2", "\U000110bd", "\U000110cd", "\U00013430", "\U0001bca0", "\U0001d173", "\U000e007f", "\U000f0001", "\U00100000")
	for _, s := range quoteIn {
		o := strconv.Quote(s)
		emit(f, kv{Fn: "Quote", In: hex.EncodeToString([]byte(s)), Out: &o})
	}
	for _, s := range []string{"", "1", "0", "t", "T", "TRUE", "true", "True", "f", "F", "FALSE", "false", "False", "on", "ON", "off", "yes", "tRUE", " true", "2", "\xff"} {
		v, err := strconv.ParseBool(s)
		c := kv{Fn: "ParseBool", In: hex.EncodeToString([]byte(s)), Err: errText(err)}
		if err == nil {
			o := strconv.FormatBool(v)
			c.Out = &o
		}
		emit(f, c)
	}
	encIn := []string{"", "plain", "<a href=\"x\">&amp;</a>", "tab\there\nnl\rcr", "\x00\x01\x08\x0c\x1f\x7f", "\u2028\u2029", "é😀", "\xff\xfe", "a\xc3", "\\\"/", "\u0085\u00a0"}
	for _, s := range encIn {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(map[string]string{"s": s})
		o := b.String()
		emit(f, kv{Fn: "EncodeNoHTML", In: hex.EncodeToString([]byte(s)), Out: &o})
		b.Reset()
		enc = json.NewEncoder(&b)
		enc.Encode(map[string]string{"s": s})
		o2 := b.String()
		emit(f, kv{Fn: "EncodeHTML", In: hex.EncodeToString([]byte(s)), Out: &o2})
	}
	keys := []string{"", "quay.io", "quay.io/alice", "http://quay.io/x/y", "https://localhost:5000", "https://index.docker.io/v1/", "registry-1.docker.io", "index.docker.io", "docker.io", "docker.io/library", "http://registry-1.docker.io/v2/", "https://", "HTTPS://quay.io"}
	for _, k := range keys {
		o := normalizeAuthFileKey(k)
		emit(f, kv{Fn: "NormalizeKey", In: hex.EncodeToString([]byte(k)), Out: &o})
	}
}

func normalizeAuthFileKey(authFileKey string) string {
	stripped := strings.TrimPrefix(authFileKey, "http://")
	stripped = strings.TrimPrefix(stripped, "https://")
	if stripped != authFileKey {
		stripped, _, _ = strings.Cut(stripped, "/")
	}
	switch stripped {
	case "registry-1.docker.io", "index.docker.io":
		return "docker.io"
	default:
		return stripped
	}
}

func main() {
	genJSON()
	genAuth()
	genMisc()
	fmt.Println(reflectName())
}

func reflectName() string {
	var q addV3
	err := json.Unmarshal([]byte(`"x"`), &q)
	return err.Error()
}
