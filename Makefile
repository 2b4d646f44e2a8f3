.DEFAULT_GOAL := help

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## Install and run the app (web, worker, beat) on http://127.0.0.1:8000
	bin/run

test: ## Install and run the whole test suite
	bin/test

lint: ## ruff check and format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

fmt: ## Format the code
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
