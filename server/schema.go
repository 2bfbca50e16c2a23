package server

import (
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compiledSchema is a validated structured_output_schema.
type compiledSchema struct{ s *jsonschema.Schema }

func compileSchema(text string) (*compiledSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parameter \"structured_output_schema\" is not valid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem:///structured_output_schema.json", doc); err != nil {
		return nil, fmt.Errorf("parameter \"structured_output_schema\" is not a usable JSON Schema: %w", err)
	}
	sch, err := c.Compile("mem:///structured_output_schema.json")
	if err != nil {
		return nil, fmt.Errorf("parameter \"structured_output_schema\" is not a valid JSON Schema: %w", err)
	}
	return &compiledSchema{s: sch}, nil
}

// validateAnswer parses the answer as JSON (tolerating a ```json fence) and
// validates it.
func (c *compiledSchema) validateAnswer(answer string) error {
	t := strings.TrimSpace(answer)
	if strings.HasPrefix(t, "```") {
		t = strings.TrimPrefix(t, "```json")
		t = strings.TrimPrefix(t, "```")
		t = strings.TrimSuffix(strings.TrimSpace(t), "```")
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(t))
	if err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	return c.s.Validate(v)
}
