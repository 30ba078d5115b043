terraform {
  # 1.9: variable validations that refer to other variables (a door open to anyone only
  # with auth_mode "jwt"), so that `terraform plan` refuses an anonymous deployment
  required_version = ">= 1.9"

  required_providers {
    alicloud = {
      source = "aliyun/alicloud"
      # 1.256: instance_isolation_mode / session_affinity(_config) on alicloud_fcv3_function
      version = ">= 1.256.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5"
    }
  }
}

provider "alicloud" {
  region = var.region
}
