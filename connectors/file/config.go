package file

import "github.com/weirlog/weir/plugins"

// Configuration keys, as in Kafka's FileStreamSourceConnector and
// FileStreamSinkConnector.
const (
	FileConfig      = "file"
	TopicConfig     = "topic"
	BatchSizeConfig = "batch.size"

	// Source offset keys, as Kafka's FileStreamSourceTask writes them.
	FilenameField = "filename"
	PositionField = "position"

	DefaultBatchSize = 2000
)

var sourceConfigDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: FileConfig, Type: plugins.ConfigString, Importance: plugins.High, Validator: fileValidator,
		Documentation: "Source filename. If not specified, the standard input will be used. It must lie under a directory the worker allows (" + AllowedDirsSetting + ", default ./" + DefaultAllowedDir + ")"}).
	Define(plugins.ConfigKey{Name: TopicConfig, Type: plugins.ConfigList, Default: plugins.NoDefault,
		Validator: plugins.CompositeValidator(plugins.NonEmptyString(), plugins.ValidatorFunc("a single topic", func(_ string, v any) error {
			if l, _ := v.([]string); len(l) != 1 {
				return errTopic
			}
			return nil
		})),
		Importance: plugins.High, Documentation: "The topic to publish data to"}).
	Define(plugins.ConfigKey{Name: BatchSizeConfig, Type: plugins.ConfigInt, Default: DefaultBatchSize, Validator: plugins.AtLeast(1),
		Importance: plugins.Low, Documentation: "The maximum number of records the source task can read from the file each time it is polled"})

var sinkConfigDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: FileConfig, Type: plugins.ConfigString, Importance: plugins.High, Validator: fileValidator,
		Documentation: "Destination filename. If not specified, the standard output will be used. It must lie under a directory the worker allows (" + AllowedDirsSetting + ", default ./" + DefaultAllowedDir + ")"})

type configError string

func (e configError) Error() string { return string(e) }

const errTopic = configError("'topic' in FileStreamSourceConnector configuration requires definition of a single topic")

func init() {
	plugins.Register(plugins.Registration{
		Class: "org.apache.kafka.connect.file.FileStreamSourceConnector", Type: plugins.PluginSource,
		Aliases: []string{"file-source"}, Doc: "Tail a file, one record per line",
		New: func() any { return &SourceConnector{} },
	})
	plugins.Register(plugins.Registration{
		Class: "org.apache.kafka.connect.file.FileStreamSinkConnector", Type: plugins.PluginSink,
		Aliases: []string{"file-sink"}, Doc: "Append record values to a file, one per line",
		New: func() any { return &SinkConnector{} },
	})
}
