#!/usr/bin/env bash
# Create or update the endcap-ENVIRONMENT stack with IMAGE, then wait until the api and
# stream services are stable (ECS rolls back a deployment whose tasks never get healthy).
#   deploy/aws/deploy.sh staging ghcr.io/OWNER/endcap@sha256:...
# The VPC, subnets and certificate come from the environment (deploy.yml passes the
# GitHub environment's secrets): VPC_ID, PUBLIC_SUBNET_IDS and PRIVATE_SUBNET_IDS
# (comma-separated), CERTIFICATE_ARN; optional REGISTRY_CREDENTIALS_ARN, ALARM_EMAIL and
# API_URL (then /readyz is checked at the end); TEMPLATE_BUCKET, an S3 bucket to upload
# the template to, once it outgrows the 51,200 bytes CloudFormation accepts inline.
set -euo pipefail
cd "$(dirname "$0")"

environment=${1:?usage: deploy.sh staging|production IMAGE}
image=${2:?usage: deploy.sh staging|production IMAGE}
case $environment in staging|production) ;; *) echo "unknown environment: $environment" >&2; exit 2;; esac
if [[ ! $image =~ ^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[a-f0-9]{64}$ ]]; then
  echo "IMAGE must be a reference by digest (REGISTRY/NAME@sha256:...), not: $image" >&2
  exit 2
fi
: "${VPC_ID:?}" "${PUBLIC_SUBNET_IDS:?}" "${PRIVATE_SUBNET_IDS:?}" "${CERTIFICATE_ARN:?}"

stack="endcap-$environment"
upload=()
if [[ -n ${TEMPLATE_BUCKET:-} ]]; then upload=(--s3-bucket "$TEMPLATE_BUCKET" --s3-prefix "$stack"); fi
aws cloudformation deploy "${upload[@]}" \
  --stack-name "$stack" \
  --template-file endcap.yaml \
  --capabilities CAPABILITY_IAM \
  --no-fail-on-empty-changeset \
  --tags "app=endcap" "environment=$environment" \
  --parameter-overrides \
    "EnvironmentName=$environment" \
    "ImageUri=$image" \
    "VpcId=$VPC_ID" \
    "PublicSubnetIds=$PUBLIC_SUBNET_IDS" \
    "PrivateSubnetIds=$PRIVATE_SUBNET_IDS" \
    "CertificateArn=$CERTIFICATE_ARN" \
    "RegistryCredentialsArn=${REGISTRY_CREDENTIALS_ARN:-}" \
    "AlarmEmail=${ALARM_EMAIL:-}"

aws ecs wait services-stable --cluster "$stack" --services api stream
echo "$stack runs $image"

if [[ -n ${API_URL:-} ]]; then
  curl --fail --silent --show-error --retry 10 --retry-all-errors --retry-delay 6 \
    "${API_URL%/}/readyz"
  echo
fi
