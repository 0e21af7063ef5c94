// Package entities mirrors podman v5.8.2 pkg/domain/entities/manifest.go (the JSON-relevant parts).
package entities

type ManifestAnnotateOptions struct {
	Annotation       []string          `json:"annotation" schema:"annotation"`
	Annotations      map[string]string `json:"annotations" schema:"annotations"`
	Arch             string            `json:"arch" schema:"arch"`
	Features         []string          `json:"features" schema:"features"`
	OS               string            `json:"os" schema:"os"`
	OSFeatures       []string          `json:"os_features" schema:"os_features"`
	OSVersion        string            `json:"os_version" schema:"os_version"`
	Variant          string            `json:"variant" schema:"variant"`
	IndexAnnotation  []string          `json:"index_annotation" schema:"index_annotation"`
	IndexAnnotations map[string]string `json:"index_annotations" schema:"index_annotations"`
	IndexSubject     string            `json:"subject" schema:"subject"`
}

type OptionalBool byte

type ManifestAddOptions struct {
	ManifestAnnotateOptions
	All           bool         `json:"all" schema:"all"`
	Authfile      string       `json:"-" schema:"-"`
	CertDir       string       `json:"-" schema:"-"`
	Password      string       `json:"-" schema:"-"`
	SkipTLSVerify OptionalBool `json:"-" schema:"-"`
	Username      string       `json:"-" schema:"-"`
	Images        []string     `json:"images" schema:"images"`
}

type ManifestRemoveOptions struct{}

type ManifestModifyOptions struct {
	Operation string `json:"operation" schema:"operation"`
	ManifestAddOptions
	ManifestRemoveOptions
	ArtifactType          *string           `json:"artifact_type" schema:"artifact_type"`
	ArtifactLayerType     string            `json:"artifact_layer_type" schema:"artifact_layer_type"`
	ArtifactConfigType    string            `json:"artifact_config_type" schema:"artifact_config_type"`
	ArtifactConfig        string            `json:"artifact_config" schema:"artifact_config"`
	ArtifactExcludeTitles bool              `json:"artifact_exclude_titles" schema:"artifact_exclude_titles"`
	ArtifactAnnotations   map[string]string `json:"artifact_annotations" schema:"artifact_annotations"`
	ArtifactSubject       string            `json:"artifact_subject" schema:"artifact_subject"`
	ArtifactFiles         []string          `json:"artifact_files" schema:"-"`
}
