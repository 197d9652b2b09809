package docs

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed reference.html
var referenceTemplate string

// Reference renders the OpenAPI document as one HTML page, the API reference
// served at /docs: every operation by tag with its auth, parameters, request
// body and answers, then every schema. The page is self-contained (inline
// style, no script, no link to another host) so it works offline and under a
// strict Content-Security-Policy.
func Reference() ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("docs: load openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("docs: openapi.yaml: %w", err)
	}
	tmpl, err := template.New("reference").Funcs(template.FuncMap{"code": code}).Parse(referenceTemplate)
	if err != nil {
		return nil, fmt.Errorf("docs: template: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, newPage(doc)); err != nil {
		return nil, fmt.Errorf("docs: render: %w", err)
	}
	return b.Bytes(), nil
}

type page struct {
	Title, Version, Description string
	Groups                      []group
	Schemas                     []schemaView
}

// group is the operations of one tag, in the spec's tag order.
type group struct {
	Tag, Description string
	Ops              []operation
}

type operation struct {
	ID, Method, Path, Summary, Description, Auth string
	Params                                       []param
	Body                                         *content
	BodyRequired                                 bool
	Responses                                    []response
}

type param struct {
	Name, In, Description string
	Required              bool
	Type                  template.HTML
}

type content struct {
	MediaType string
	Type      template.HTML
}

type response struct {
	Status, Description string
	Headers             []param
	Content             []content
}

type schemaView struct {
	Name, Description string
	Type              template.HTML // for a schema that is not an object
	Includes          []template.HTML
	Fields            []field
}

// field is one property of an object; Fields are those of an inline
// object (or of the items of an inline array of objects).
type field struct {
	Name     string
	Required bool
	Type     template.HTML
	Notes    string
	Fields   []field
}

var methodOrder = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func newPage(doc *openapi3.T) page {
	p := page{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	ops := map[string][]operation{}
	descriptions := map[string]string{}
	var tags []string // the spec's tag order, then any other tag as met
	for _, t := range doc.Tags {
		tags = append(tags, t.Name)
		ops[t.Name] = nil
		descriptions[t.Name] = t.Description
	}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		for _, method := range methodOrder {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			if _, ok := ops[tag]; !ok {
				tags = append(tags, tag)
			}
			ops[tag] = append(ops[tag], newOperation(doc, method, path, item, op))
		}
	}
	for _, tag := range tags {
		if len(ops[tag]) > 0 {
			p.Groups = append(p.Groups, group{Tag: tag, Description: descriptions[tag], Ops: ops[tag]})
		}
	}
	names := make([]string, 0, len(doc.Components.Schemas))
	for name := range doc.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p.Schemas = append(p.Schemas, newSchemaView(name, doc.Components.Schemas[name].Value))
	}
	return p
}

func newOperation(doc *openapi3.T, method, path string, item *openapi3.PathItem, op *openapi3.Operation) operation {
	o := operation{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Description: op.Description,
		Auth: authOf(doc, op)}
	for _, ps := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, pr := range ps {
			pv := pr.Value
			desc := pv.Description
			if pv.Schema != nil && pv.Schema.Ref == "" {
				desc = strings.TrimPrefix(desc+"; "+notes(pv.Schema.Value), "; ")
			}
			o.Params = append(o.Params, param{Name: pv.Name, In: pv.In, Description: strings.TrimSuffix(desc, "; "),
				Required: pv.Required, Type: typeOf(pv.Schema)})
		}
	}
	if op.RequestBody != nil {
		o.BodyRequired = op.RequestBody.Value.Required
		for _, c := range contents(op.RequestBody.Value.Content) {
			o.Body = &c
		}
	}
	o.Responses = responses(op.Responses)
	return o
}

// authOf says how an operation authenticates: its own security, else the
// document's; "none" when empty.
func authOf(doc *openapi3.T, op *openapi3.Operation) string {
	security := doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	var schemes []string
	for _, req := range security {
		for name := range req {
			if s := doc.Components.SecuritySchemes[name]; s != nil && s.Value.Type == "http" {
				schemes = append(schemes, "Authorization: "+strings.ToUpper(s.Value.Scheme[:1])+s.Value.Scheme[1:]+" <token>")
			} else {
				schemes = append(schemes, name)
			}
		}
	}
	if len(schemes) == 0 {
		return "none"
	}
	return strings.Join(schemes, " or ")
}

// responses lists an operation's answers by status code.
func responses(rs *openapi3.Responses) []response {
	codes := make([]string, 0, rs.Len())
	for code := range rs.Map() {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	out := make([]response, 0, len(codes))
	for _, code := range codes {
		rv := rs.Value(code).Value
		r := response{Status: code, Content: contents(rv.Content)}
		if rv.Description != nil {
			r.Description = *rv.Description
		}
		for name, h := range rv.Headers {
			r.Headers = append(r.Headers, param{Name: name, Type: typeOf(h.Value.Schema)})
		}
		out = append(out, r)
	}
	return out
}

func contents(c openapi3.Content) []content {
	types := make([]string, 0, len(c))
	for mt := range c {
		types = append(types, mt)
	}
	sort.Strings(types)
	out := make([]content, 0, len(types))
	for _, mt := range types {
		out = append(out, content{MediaType: mt, Type: typeOf(c[mt].Schema)})
	}
	return out
}

func newSchemaView(name string, s *openapi3.Schema) schemaView {
	v := schemaView{Name: name, Description: s.Description}
	for _, part := range s.AllOf {
		if part.Ref != "" {
			v.Includes = append(v.Includes, typeOf(part))
			continue
		}
		v.Fields = append(v.Fields, fields(part.Value)...)
	}
	if s.Type.Is(openapi3.TypeObject) || len(s.Properties) > 0 {
		v.Fields = append(v.Fields, fields(s)...)
	} else if len(s.AllOf) == 0 {
		v.Type = typeOf(openapi3.NewSchemaRef("", s))
		v.Description = notes(s)
	}
	return v
}

// fields lists an object's properties, the required ones first, each group
// by name.
func fields(s *openapi3.Schema) []field {
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if required[names[i]] != required[names[j]] {
			return required[names[i]]
		}
		return names[i] < names[j]
	})
	out := make([]field, 0, len(names))
	for _, name := range names {
		ref := s.Properties[name]
		f := field{Name: name, Required: required[name], Type: typeOf(ref)}
		if ref.Ref == "" {
			f.Notes = notes(ref.Value)
			inner := ref.Value
			if inner.Items != nil && inner.Items.Ref == "" {
				inner = inner.Items.Value
			}
			if inner.Type.Is(openapi3.TypeObject) && len(inner.Properties) > 0 {
				f.Fields = fields(inner)
			}
		}
		out = append(out, f)
	}
	return out
}

// typeOf is a short type expression, linking to a named schema.
func typeOf(ref *openapi3.SchemaRef) template.HTML {
	if ref == nil {
		return ""
	}
	if ref.Ref != "" {
		name := ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
		esc := template.HTMLEscapeString(name)
		return template.HTML(`<a href="#schema-` + esc + `">` + esc + `</a>`)
	}
	s := ref.Value
	var t string
	switch {
	case s.Type.Is(openapi3.TypeArray):
		return "array of " + typeOf(s.Items)
	case s.Type.Is(openapi3.TypeObject) && s.AdditionalProperties.Schema != nil:
		return "map of " + typeOf(s.AdditionalProperties.Schema)
	case s.Type != nil && len(*s.Type) > 0:
		t = strings.Join(*s.Type, " or ")
	case len(s.AllOf) > 0:
		parts := make([]string, 0, len(s.AllOf))
		for _, p := range s.AllOf {
			parts = append(parts, string(typeOf(p)))
		}
		return template.HTML(strings.Join(parts, " and "))
	default:
		t = "any"
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return template.HTML(template.HTMLEscapeString(t))
}

// notes are a schema's description and constraints in one line.
func notes(s *openapi3.Schema) string {
	var n []string
	if s.Description != "" {
		n = append(n, s.Description)
	}
	if s.Nullable {
		n = append(n, "may be null")
	}
	if len(s.Enum) > 0 {
		vals := make([]string, 0, len(s.Enum))
		for _, e := range s.Enum {
			vals = append(vals, fmt.Sprint(e))
		}
		n = append(n, "one of "+strings.Join(vals, ", "))
	}
	if s.Pattern != "" {
		n = append(n, "pattern "+s.Pattern)
	}
	if s.Min != nil {
		n = append(n, "minimum "+strconv.FormatFloat(*s.Min, 'f', -1, 64))
	}
	if s.Max != nil {
		n = append(n, "maximum "+strconv.FormatFloat(*s.Max, 'f', -1, 64))
	}
	if s.MinLength > 0 {
		n = append(n, "at least "+count(s.MinLength, "character"))
	}
	if s.MaxLength != nil {
		n = append(n, "at most "+count(*s.MaxLength, "character"))
	}
	if s.MinItems > 0 {
		n = append(n, "at least "+count(s.MinItems, "item"))
	}
	if s.MaxItems != nil {
		n = append(n, "at most "+count(*s.MaxItems, "item"))
	}
	if s.MaxProps != nil {
		n = append(n, "at most "+count(*s.MaxProps, "entry"))
	}
	if s.Default != nil {
		n = append(n, fmt.Sprintf("default %v", s.Default))
	}
	return strings.Join(n, "; ")
}

// count is "1 item" or "n items" ("entry" becomes "entries").
func count(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return strconv.FormatUint(n, 10) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return strconv.FormatUint(n, 10) + " " + noun + "s"
}

// code escapes the spec's text and shows its `backquoted` parts as code.
func code(text string) template.HTML {
	parts := strings.Split(template.HTMLEscapeString(text), "`")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString("<code>" + p + "</code>")
			continue
		}
		if i%2 == 1 {
			b.WriteString("`") // an unpaired backquote stays as it is
		}
		b.WriteString(p)
	}
	return template.HTML(b.String())
}
