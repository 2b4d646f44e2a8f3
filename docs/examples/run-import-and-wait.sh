#!/usr/bin/env bash
# Run an import now and wait for the run to end; exits 1 if it failed or was cancelled
# (a run that rejects more rows than its import's threshold allows fails).
# Needs curl and jq, and in the environment:
#   BQI_URL        where the app answers, e.g. https://imports.example.com
#   BQI_TOKEN      an API token with the "run" scope (Settings > API tokens)
#   BQI_WORKSPACE  the workspace's slug, as in /w/<slug>/ in the app's URLs
#   BQI_IMPORT     the import's id, as in …/imports/<id>/ on its page
set -euo pipefail
api="$BQI_URL/api/v1/workspaces/$BQI_WORKSPACE"
auth="Authorization: Bearer $BQI_TOKEN"

# 202 with the queued run; an error (409: the import is running already) is JSON too.
if ! run=$(curl -sS --fail-with-body -X POST -H "$auth" "$api/imports/$BQI_IMPORT/runs/"); then
  echo "could not start a run: $run" >&2
  exit 1
fi
run_url=$(jq -r .url <<<"$run")
echo "queued run $(jq -r .id <<<"$run")"

while true; do
  # --retry waits out a 429 (Retry-After) and short outages
  if ! run=$(curl -sS --fail-with-body --retry 5 -H "$auth" "$run_url"); then
    echo "could not read the run: $run" >&2
    exit 1
  fi
  status=$(jq -r .status <<<"$run")
  case "$status" in
    succeeded|succeeded_with_rejections)
      echo "$status: $(jq .rows_written <<<"$run") rows written, $(jq .rows_unchanged <<<"$run") unchanged, $(jq .rows_rejected <<<"$run") rejected"
      exit 0 ;;
    failed|cancelled)
      echo "$status: $(jq -r .error_message <<<"$run")" >&2
      exit 1 ;;
  esac
  sleep "${BQI_POLL_SECONDS:-10}"
done
