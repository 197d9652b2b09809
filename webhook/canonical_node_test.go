package webhook

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// CanonicalJSON agrees with JavaScript itself (the machine's Node.js) on
// random documents: numbers of every magnitude, escapes, non-ASCII text and
// array-index keys.
func TestCanonicalJSONMatchesNode(t *testing.T) {
	node, err := exec.LookPath("node")
	switch {
	case err != nil && os.Getenv("CI") != "":
		t.Fatal("node is not installed, and CI needs this test (scripts/test.sh installs it)")
	case err != nil:
		t.Skip("node is not installed")
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var docs []string
	for range 400 {
		docs = append(docs, randomJSON(rng, 0))
	}
	cmd := exec.Command(node, "-e", `require('readline').createInterface({input: process.stdin}).on('line', l => console.log(JSON.stringify(JSON.parse(l))))`)
	cmd.Stdin = strings.NewReader(strings.Join(docs, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; sc.Scan(); i++ {
		got, err := CanonicalJSON([]byte(docs[i]))
		if err != nil {
			t.Fatalf("CanonicalJSON(%s): %v", docs[i], err)
		}
		if string(got) != sc.Text() {
			t.Errorf("document %d %s\n   go %s\n node %s", i, docs[i], got, sc.Text())
		}
	}
}

func randomJSON(rng *rand.Rand, depth int) string {
	switch k := rng.IntN(8); {
	case depth < 3 && k == 0:
		n := rng.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = randomJSON(rng, depth+1)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case depth < 3 && k <= 2:
		n := rng.IntN(6)
		parts := make([]string, n)
		for i := range parts {
			key := []string{"a", "b", "0", "7", "10", "01", "x y", "é", "4294967295", "a"}[rng.IntN(10)]
			parts[i] = strconv.Quote(key) + ": " + randomJSON(rng, depth+1)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case k == 3:
		return randomString(rng)
	case k == 4:
		return []string{"true", "false", "null"}[rng.IntN(3)]
	default:
		return randomNumber(rng)
	}
}

func randomNumber(rng *rand.Rand) string {
	switch rng.IntN(6) {
	case 0:
		return strconv.FormatInt(rng.Int64N(1<<62)-(1<<61), 10)
	case 1:
		return strconv.FormatFloat((rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(50)-25)), 'g', -1, 64)
	case 2:
		return fmt.Sprintf("%d.%de%d", rng.IntN(1000), rng.IntN(100), rng.IntN(60)-30)
	case 3:
		return fmt.Sprintf("%d.0", rng.IntN(100))
	case 4:
		return strconv.FormatFloat(rng.Float64(), 'f', rng.IntN(20), 64)
	}
	return strconv.Itoa(rng.IntN(10))
}

func randomString(rng *rand.Rand) string {
	pieces := []string{"a", "<", ">", "&", "é", "\\u00e9", "\\u003c", "\\n", "\\t", "\\u0001", "\\u001f", "\\\"", "\\\\", "\\/", "😀", "\\ud83d\\ude00", "\u2028", "\\u2028", " "}
	var b strings.Builder
	b.WriteByte('"')
	for range rng.IntN(8) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	b.WriteByte('"')
	return b.String()
}
