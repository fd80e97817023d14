package apicheck

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// channel is a topic of the AsyncAPI document with its one message.
type channel struct {
	name    string
	address *regexp.Regexp
	// keyMember is the body member the record key must equal, or "".
	keyMember string
	json      bool
	headers   *jsonschema.Schema // nil: no headers documented
	payload   *jsonschema.Schema // nil: any bytes
}

// param is a channel address parameter, such as {group}.
var param = regexp.MustCompile(`\\\{[A-Za-z]+\\\}`)

func (d *Documents) loadChannels() ([]channel, error) {
	raw, err := loader{}.Load(base + "asyncapi.yaml")
	if err != nil {
		return nil, err
	}
	doc, _ := raw.(map[string]any)
	channels, _ := doc["channels"].(map[string]any)
	defaultType, _ := doc["defaultContentType"].(string)
	var out []channel
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(channels)) {
		ch, err := d.loadChannel(doc, name, defaultType)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %s: %w", name, err))
			continue
		}
		out = append(out, ch)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("asyncapi.yaml has no channels"))
	}
	return out, errors.Join(errs...)
}

func (d *Documents) loadChannel(doc map[string]any, name, defaultType string) (channel, error) {
	ch, _ := dig(doc, "channels", name).(map[string]any)
	address, _ := ch["address"].(string)
	msgs, _ := ch["messages"].(map[string]any)
	if address == "" || len(msgs) != 1 {
		return channel{}, errors.New("needs an address and exactly one message")
	}
	var ref string
	for _, m := range msgs {
		ref, _ = dig(m, "$ref").(string)
	}
	key, ok := strings.CutPrefix(ref, "#/components/messages/")
	msg, isMap := dig(doc, "components", "messages", key).(map[string]any)
	if !ok || !isMap {
		return channel{}, fmt.Errorf("message %q is not in components/messages", ref)
	}
	loc := "asyncapi.yaml" + ref
	contentType, _ := msg["contentType"].(string)
	if contentType == "" {
		contentType = defaultType
	}
	c := channel{
		name:    name,
		address: regexp.MustCompile("^" + param.ReplaceAllString(regexp.QuoteMeta(address), `[^{}]+`) + "$"),
		json:    contentType == "application/json",
	}
	c.keyMember, _ = msg["x-key"].(string)
	var err error
	if _, ok := msg["headers"]; ok {
		if c.headers, err = d.Schema(loc + "/headers/schema"); err != nil {
			return channel{}, err
		}
	}
	if c.json {
		if c.payload, err = d.Schema(loc + "/payload/schema"); err != nil {
			return channel{}, err
		}
	}
	return c, nil
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// Channel returns the name of the AsyncAPI channel whose address topic
// matches, or "" if none does.
func (d *Documents) Channel(topic string) string {
	if c := d.channel(topic); c != nil {
		return c.name
	}
	return ""
}

func (d *Documents) channel(topic string) *channel {
	for i := range d.channels {
		if d.channels[i].address.MatchString(topic) {
			return &d.channels[i]
		}
	}
	return nil
}

// CheckRecord reports every way a record on topic breaks the AsyncAPI
// document: a topic it does not name, headers their schema refuses (a
// missing one among them), a value its payload schema refuses, or a key
// other than the body member the message names (x-key).
func (d *Documents) CheckRecord(topic string, key []byte, headers map[string]string, value []byte) error {
	c := d.channel(topic)
	if c == nil {
		return fmt.Errorf("topic %s is not in asyncapi.yaml", topic)
	}
	var errs []error
	if c.headers != nil {
		h := make(map[string]any, len(headers))
		for k, v := range headers {
			h[k] = v
		}
		if err := c.headers.Validate(h); err != nil {
			errs = append(errs, fmt.Errorf("%s headers %v: %w", topic, headers, err))
		}
	}
	if c.payload != nil {
		if err := d.checkValue(c, key, value); err != nil {
			errs = append(errs, fmt.Errorf("%s value %.300s: %w", topic, value, err))
		}
	}
	return errors.Join(errs...)
}

// CheckValue reports how value breaks the payload schema of topic's
// message.
func (d *Documents) CheckValue(topic string, value []byte) error {
	c := d.channel(topic)
	if c == nil || c.payload == nil {
		return fmt.Errorf("topic %s has no JSON payload in asyncapi.yaml", topic)
	}
	v, err := DecodeJSON(value)
	if err != nil {
		return err
	}
	return c.payload.Validate(v)
}

func (d *Documents) checkValue(c *channel, key, value []byte) error {
	v, err := DecodeJSON(value)
	if err != nil {
		return err
	}
	if err := c.payload.Validate(v); err != nil {
		return err
	}
	if c.keyMember == "" {
		return nil
	}
	if want, _ := dig(v, c.keyMember).(string); string(key) != want {
		return fmt.Errorf("key %q is not the value's %s %q", key, c.keyMember, want)
	}
	return nil
}
