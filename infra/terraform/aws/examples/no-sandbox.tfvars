# The agent and the state API only: no sandbox function, no Alibaba Cloud account needed.
# Friday's code tool then answers that sandboxes are unavailable.
#   terraform -chdir=infra/terraform/aws apply -var-file=examples/no-sandbox.tfvars

region         = "eu-west-1"
name_prefix    = "agentscope"
python_version = "3.12"
architecture   = "arm64"
enable_sandbox = false

# Users sign in with Auth0; tokens are issued for the API registered as https://agentscope.example
auth_jwks_url = "https://example-tenant.eu.auth0.com/.well-known/jwks.json"
auth_issuer   = "https://example-tenant.eu.auth0.com/"
auth_audience = "https://agentscope.example"

# traces of every turn to an OTLP receiver, one in ten kept
otel_exporter_otlp_endpoint = "https://otel-collector.example:4318"
otel_traces_sampler         = "parentbased_traceidratio"
otel_traces_sampler_arg     = 0.1
