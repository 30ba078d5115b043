terraform {
  # 1.9: variable validations that refer to other variables (a door open to anyone only
  # with auth_mode "jwt"), so that `terraform plan` refuses an anonymous deployment
  required_version = ">= 1.9"

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
