package plugins

// The JSON shapes of Kafka Connect's REST API for plugin configuration:
// GET /connector-plugins/{p}/config returns []ConfigKeyInfo and
// PUT /connector-plugins/{p}/config/validate returns ConfigInfos. The
// runtime encodes these with encoding/json; field names and order follow
// Kafka's entities.

// ConfigKeyInfo describes one key (Kafka's ConfigKeyInfo).
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         *string  `json:"group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
	Order         int      `json:"order"`
}

// ConfigValueInfo is the validation result of one key (Kafka's
// ConfigValueInfo).
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// ConfigInfo pairs a key's definition with its validation result.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigInfos is the body of PUT /connector-plugins/{p}/config/validate.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// KeyInfo renders one key.
func (k ConfigKey) KeyInfo() ConfigKeyInfo {
	ki := ConfigKeyInfo{
		Name: k.Name, Type: string(k.Type), Required: k.Required(),
		Importance: string(k.Importance), Documentation: k.Documentation,
		Width: string(k.Width), DisplayName: k.DisplayName,
		Dependents: append([]string{}, k.Dependents...), Order: k.OrderInGroup,
	}
	if k.Group != "" {
		g := k.Group
		ki.Group = &g
	} else {
		ki.Order = -1
	}
	if !k.Required() && k.Default != nil {
		s := FormatConfigValue(k.Default)
		ki.DefaultValue = &s
	}
	return ki
}

// KeyInfos renders every non-internal key, for
// GET /connector-plugins/{p}/config.
func (d *ConfigDef) KeyInfos() []ConfigKeyInfo {
	out := []ConfigKeyInfo{}
	for _, k := range d.Keys() {
		if !k.Internal {
			out = append(out, k.KeyInfo())
		}
	}
	return out
}

// ValidateInfos validates cfg and renders the result; name is the
// connector class (Kafka puts the plugin's class there).
func (d *ConfigDef) ValidateInfos(name string, cfg Config) ConfigInfos {
	vals := d.Validate(cfg)
	out := ConfigInfos{Name: name, Groups: d.Groups(), Configs: []ConfigInfo{}}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	for i, k := range d.Keys() {
		cv := vals[i]
		if k.Internal {
			continue
		}
		vi := ConfigValueInfo{Name: cv.Name, RecommendedValues: cv.RecommendedValues, Errors: cv.Errors, Visible: cv.Visible}
		if vi.Errors == nil {
			vi.Errors = []string{}
		}
		if vi.RecommendedValues == nil {
			vi.RecommendedValues = []string{}
		}
		switch {
		case cv.Value != nil:
			s := FormatConfigValue(cv.Value)
			vi.Value = &s
		case cv.Set:
			s := cv.Raw
			if k.Type == ConfigPassword {
				s = "[hidden]"
			}
			vi.Value = &s
		}
		out.ErrorCount += len(cv.Errors)
		out.Configs = append(out.Configs, ConfigInfo{Definition: k.KeyInfo(), Value: vi})
	}
	return out
}

// AddErrors adds errors found outside the ConfigDef (e.g. by a
// connector's own cross-key validation or the transform chain builder) to
// the named key, keeping ErrorCount in step. Unknown names are appended as
// a bare entry so the error is never lost.
func (c *ConfigInfos) AddErrors(name string, errs ...string) {
	if len(errs) == 0 {
		return
	}
	c.ErrorCount += len(errs)
	for i := range c.Configs {
		if c.Configs[i].Value.Name == name {
			c.Configs[i].Value.Errors = append(c.Configs[i].Value.Errors, errs...)
			return
		}
	}
	c.Configs = append(c.Configs, ConfigInfo{
		Definition: ConfigKeyInfo{Name: name, Type: string(ConfigString), Importance: string(Low), Width: string(WidthNone), DisplayName: name, Dependents: []string{}, Order: -1},
		Value:      ConfigValueInfo{Name: name, RecommendedValues: []string{}, Errors: errs, Visible: true},
	})
}
