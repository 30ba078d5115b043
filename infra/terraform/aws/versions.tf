terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.28: aws_lambda_function_url grants lambda:InvokeFunction with the
      # InvokedViaFunctionUrl flag itself when authorization_type is NONE
      version = ">= 6.28"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "agentscope-faas" }, var.tags)
  }
}
