package dashboards

// ProviderDir is where the provider example expects the generated dashboards on the Grafana host.
const ProviderDir = "/var/lib/grafana/dashboards/andon"

// providerYAML is a Grafana dashboard provider for file provisioning (Grafana reads every
// provisioning/dashboards/*.yaml at start and then polls the folder).
const providerYAML = `# Grafana file provisioning of andon's generated dashboards.
# Copy this file to /etc/grafana/provisioning/dashboards/andon.yaml and the dashboards/*.json of
# every bundle to ` + ProviderDir + `; Grafana loads them at start and rereads the folder every
# 30 seconds. The dashboards pick their Prometheus data source through the "datasource" variable
# (the default Prometheus data source unless one is chosen).
apiVersion: 1
providers:
  - name: andon
    orgId: 1
    folder: andon
    type: file
    disableDeletion: false
    # Generated dashboards are replaced on every regeneration: change the spec, not the UI.
    allowUiUpdates: false
    updateIntervalSeconds: 30
    options:
      path: ` + ProviderDir + `
      foldersFromFilesStructure: false
`

// ProviderYAML returns a Grafana file-provisioning dashboard provider for the generated dashboards.
func ProviderYAML() []byte { return []byte(providerYAML) }
