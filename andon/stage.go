package andon

// The pipeline stages the TPS andon design names, in pipeline order.
const (
	StageCompilation = "compilation"
	StageTesting     = "testing"
	StageValidation  = "validation"
	StageExecution   = "execution"
	StageIntegration = "integration"
	StageDeployment  = "deployment"
)
