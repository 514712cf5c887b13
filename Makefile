# kvt — two commands on a fresh Debian machine:
#   make demo   install what is missing, build, generate a day of data, run the whole chain
#               ingest → silver → gold → load (private PostgreSQL) → check
#   make test   fmt check, clippy -D warnings, the whole test suite (services included)
#
# Everything the project needs is installed here, idempotently: Debian packages
# (apt) and test services built from crates.io into target/tools. One cargo
# profile (release) is shared by demo, test and bench so polars is built once.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO    ?= cargo
# Everything built lives where cargo puts it: CARGO_TARGET_DIR when the user
# set one (shared between clones), else target/. The test services go in its
# tools/ (tests find them on PATH, exported below).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
TOOLS    := $(TARGET_DIR)/tools
BIN      := $(TARGET_DIR)/release
export KVT_BIN_DIR := $(BIN)
export KVT_TOOLS_DIR := $(TOOLS)
export PATH := $(TOOLS)/bin:$(HOME)/.cargo/bin:$(PATH)
export OMP_THREAD_LIMIT := 1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Build: linker, bindgen (leptess), cmake (bundled librdkafka), C libraries.
# Test services: openssl (test keys), nginx, postgresql, tesseract; the fonts
# of the synthetic identity documents (OCR-B for the MRZ, DejaVu).
APT_PACKAGES := build-essential pkg-config mold clang libclang-dev cmake \
	libssl-dev zlib1g-dev libtesseract-dev libleptonica-dev \
	tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra openssl curl ca-certificates time nginx-light \
	postgresql postgresql-client influxdb fonts-ocr-b fonts-dejavu-core chromium

S3S_FS_VERSION := 0.14.1
TANSU_VERSION  := 0.6.0

DEMO_DATE ?= 2026-03-17
DEMO_SCALE ?= 1
DEMO_DIR  := $(CURDIR)/target/demo
PG_DIR    := $(DEMO_DIR)/pg
DEMO_KAFKA_PORT ?= 19092
SOURCES   := nginx firebase kyc crm logistics
SILVER_SOURCES := crm firebase nginx logistics kyc payments orders
FRAUD_JOBS := payments orders advanced crossed kyc

.PHONY: help deps apt tools build demo test fmt lint unit bench clean-demo install airflow

help:
	@echo "make demo   build and run the pipeline on a generated day (results in target/demo/lake)"
	@echo "make test   fmt check, clippy -D warnings, the whole test suite"
	@echo "make bench  benchmarks (results go to docs/benchmarks.md by hand)"
	@echo "make install [PREFIX=/usr/local] [DESTDIR=]  binaries, kvt-step, completions, man page (after make build)"

## Install missing Debian packages (idempotent: only what dpkg does not have).
apt:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

## Test services from crates.io, cached in target/tools (installed only when missing).
tools: $(TOOLS)/bin/s3s-fs $(TOOLS)/bin/tansu

$(TOOLS)/bin/s3s-fs:
	$(CARGO) install --locked --quiet --root $(TOOLS) s3s-fs --version $(S3S_FS_VERSION) --features binary

# Kafka-protocol broker for tests and the demo (SQLite storage engine).
$(TOOLS)/bin/tansu:
	$(CARGO) install --locked --quiet --root $(TOOLS) tansu --version $(TANSU_VERSION) --features libsql

deps: apt tools

build: apt
	$(CARGO) build --release --bins

## Generate one day of every source, then ingest each into ./lake of target/demo.
demo: deps build clean-demo
	@mkdir -p $(DEMO_DIR)
	$(BIN)/kvt-gen --date $(DEMO_DATE) --scale $(DEMO_SCALE) --seed 42 --out $(DEMO_DIR)/drop
	@cd $(DEMO_DIR) && for s in $(SOURCES); do \
	  echo "== kvt ingest drive $$s"; \
	  KVT_NOW=$(DEMO_DATE)T23:00:00Z $(BIN)/kvt ingest drive --source $$s --retry-delay 5s; \
	done
	@echo "== Kafka: tansu broker on 127.0.0.1:$(DEMO_KAFKA_PORT), topics, events of the day, kvt ingest kafka"
	@mkdir -p $(DEMO_DIR)/broker && cd $(DEMO_DIR)/broker && \
	  ( $(TOOLS)/bin/tansu broker --listener-url tcp://127.0.0.1:$(DEMO_KAFKA_PORT) \
	      --advertised-listener-url tcp://127.0.0.1:$(DEMO_KAFKA_PORT) --storage-engine sqlite://tansu.db \
	      > tansu.log 2>&1 & echo $$! > pid ) && \
	  for i in $$(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$(DEMO_KAFKA_PORT)) 2>/dev/null && break; sleep 0.1; done
	@# The five fraud jobs start first, at the latest offsets (FRAUD-5), and see the day live.
	@trap 'kill $$(cat $(DEMO_DIR)/broker/pid) 2>/dev/null' EXIT; cd $(DEMO_DIR) && \
	  $(BIN)/kvt-gen topics --brokers 127.0.0.1:$(DEMO_KAFKA_PORT) && \
	  cp $(CURDIR)/kvt.example.toml fraud.toml && \
	  echo 'bin_blacklist_file = "drop/config/bin_blacklist.txt"' >> fraud.toml && \
	  for j in $(FRAUD_JOBS); do \
	    echo "== kvt fraud run $$j (background, log in $(DEMO_DIR)/fraud-$$j.log)"; \
	    KVT_KAFKA_BROKERS=127.0.0.1:$(DEMO_KAFKA_PORT) $(BIN)/kvt --config fraud.toml fraud run $$j \
	      --exit-when-idle 10s > fraud-$$j.out 2> fraud-$$j.log & \
	  done; \
	  for i in $$(seq 1 300); do \
	    [ "$$(ls lake/fraud/*/checkpoints/*.ckpt 2>/dev/null | wc -l)" -ge 5 ] && break; sleep 0.1; \
	  done; \
	  $(BIN)/kvt-gen produce --events drop/events --brokers 127.0.0.1:$(DEMO_KAFKA_PORT) --topics payments,orders,kyc_decisions && \
	  KVT_NOW=$(DEMO_DATE)T23:30:00Z KVT_KAFKA_BROKERS=127.0.0.1:$(DEMO_KAFKA_PORT) $(BIN)/kvt ingest kafka --topic payments,orders && \
	  echo "== waiting for the fraud jobs (they stop 10 s after the last event)" && wait && \
	  for j in $(FRAUD_JOBS); do \
	    echo "fraud $$j: $$(tail -1 fraud-$$j.out | sed -E 's/.*"alerts_per_type":(\{[^}]*\}).*/\1/')"; \
	  done; \
	  echo "alert archive: $(DEMO_DIR)/lake/alerts/<topic>/event_date=*/ (and on the alerts_* topics)"
	@# Silver with the public development key (--dev-key): production sets KVT_PSEUDONYM_KEY.
	@# Exit 1 is a data verdict (e.g. too many bad nginx lines): reported, the demo goes on.
	@cd $(DEMO_DIR) && for s in $(SILVER_SOURCES); do \
	  echo "== kvt silver $$s"; \
	  KVT_NOW=$(DEMO_DATE)T23:45:00Z $(BIN)/kvt silver $$s --dev-key || test $$? -eq 1 || exit 2; \
	done
	@echo "== kvt gold --as-of $(DEMO_DATE)"
	@cd $(DEMO_DIR) && KVT_NOW=$(DEMO_DATE)T23:50:00Z $(BIN)/kvt gold --as-of $(DEMO_DATE)
	@# The warehouse: KVT_WAREHOUSE_URL when the user gives one, else a private
	@# PostgreSQL cluster under target/demo/pg (127.0.0.1, a free port), stopped at the end.
	@cd $(DEMO_DIR) && if [ -z "$${KVT_WAREHOUSE_URL:-}" ]; then \
	  echo "== private PostgreSQL cluster in $(PG_DIR)"; \
	  eval "$$($(CURDIR)/scripts/pg.sh start $(PG_DIR))"; export KVT_WAREHOUSE_URL KVT_OLTP_URL; \
	  trap '$(CURDIR)/scripts/pg.sh stop $(PG_DIR)' EXIT; \
	fi; \
	echo "== kvt load"; \
	KVT_NOW=$(DEMO_DATE)T23:55:00Z $(BIN)/kvt load; \
	echo "== kvt check"; \
	KVT_NOW=$(DEMO_DATE)T23:58:00Z $(BIN)/kvt check > check.out || test $$? -eq 1; \
	tail -1 check.out; \
	echo "quality gate: pass_rate=$$(tail -1 check.out | sed -E 's/.*"pass_rate":([0-9.]+).*/\1/')"; \
	echo "== kvt kyc verify: four generated documents (a major, a minor, an expired one, a blurred one)"; \
	$(BIN)/kvt-gen documents --out kyc-docs --today $(DEMO_DATE) --set demo > /dev/null && \
	for f in kyc-docs/*.png kyc-docs/*.jpg; do \
	  KVT_NOW=$(DEMO_DATE)T12:00:00Z $(BIN)/kvt -q kyc verify $$f --order-id DEMO-$$(basename $$f | cut -c1-3) \
	    --customer-id C-DEMO --dev-key > kyc.out 2>> kyc.log || exit 2; \
	  echo "$$(basename $$f): $$(sed -E 's/.*"decision":"([a-z_]+)","reason":("[^"]*"|null).*"age_computed":([0-9]+|null).*/\1 (reason \2, age \3)/' kyc.out)"; \
	done; \
	if [ -n "$${KVT_OLTP_URL:-}" ]; then \
	  echo "kyc_decisions rows in the transactional database: $$(psql "$$KVT_OLTP_URL" -tAc 'select count(*) from kyc_decisions')"; \
	fi
	@echo
	@echo "Demo done. Working directory: $(DEMO_DIR)"
	@echo "  generated sources:  $(DEMO_DIR)/drop   (ground truth: drop/ground_truth.json)"
	@echo "  bronze:             $(DEMO_DIR)/lake/bronze"
	@echo "  manifests:          $(DEMO_DIR)/lake/bronze/_manifests/*.jsonl"
	@echo "  Kafka events:       $(DEMO_DIR)/lake/bronze/kafka/<topic>/event_date=*/"
	@echo "  silver (Parquet):   $(DEMO_DIR)/lake/silver/<table>/<partition>/   (rejects: lake/silver/_rejects/)"
	@echo "  gold (Parquet):     $(DEMO_DIR)/lake/gold/<table>/   (formulas: docs/gold.md)"
	@echo "  fraud alerts:       $(DEMO_DIR)/lake/alerts/<topic>/event_date=*/   (rules: docs/fraud.md)"
	@echo "  KYC documents:      $(DEMO_DIR)/kyc-docs/   (expected decisions: manifest.jsonl; pipeline: docs/kyc.md)"
	@echo "  warehouse:          eval \"\$$(scripts/pg.sh start $(PG_DIR))\" && psql \"\$$KVT_WAREHOUSE_URL\" -c '\\dt kvt.*'"
	@echo "                      (then: scripts/pg.sh stop $(PG_DIR); schema and Metabase: docs/warehouse.md)"
	@du -sh $(DEMO_DIR)/lake/bronze/* $(DEMO_DIR)/lake/silver/* 2>/dev/null || true
	@echo
	@echo "== kvt status: what ran, when, with what result (from the run history in the lake)"
	@cd $(DEMO_DIR) && KVT_NOW=$(DEMO_DATE)T23:59:00Z $(BIN)/kvt status || test $$? -eq 1

## Install what `make build` built: kvt, kvt-gen, the cron wrapper, shell
## completions and the man page (both generated from the clap definitions).
PREFIX  ?= /usr/local
DESTDIR ?=
install:
	@test -x $(BIN)/kvt -a -x $(BIN)/kvt-gen || { echo "make install: run 'make build' first ($(BIN)/kvt missing)" >&2; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 $(BIN)/kvt $(BIN)/kvt-gen cron/kvt-step $(DESTDIR)$(PREFIX)/bin/
	$(BIN)/kvt completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/kvt
	$(BIN)/kvt completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_kvt
	$(BIN)/kvt completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/kvt.fish
	$(BIN)/kvt man > $(DESTDIR)$(PREFIX)/share/man/man1/kvt.1
	@echo "installed under $(DESTDIR)$(PREFIX): bin/kvt bin/kvt-gen bin/kvt-step, completions, man kvt"

clean-demo:
	@if [ -d $(PG_DIR) ]; then ./scripts/pg.sh stop $(PG_DIR); \
	  if [ -f $(PG_DIR)/pg-home ]; then rm -rf "$$(cat $(PG_DIR)/pg-home)"; fi; fi
	rm -rf $(DEMO_DIR)

fmt:
	$(CARGO) fmt --all --check

lint: apt
	$(CARGO) clippy --release --all-targets -- -D warnings

## A pinned Apache Airflow in target/airflow/venv (PyPI), for the DAG test.
airflow:
	./scripts/airflow.sh install $(TARGET_DIR)/airflow

## The whole suite. CI=true makes a missing service a failure instead of a skip.
test: deps airflow fmt lint
	$(CARGO) test --release --all-targets

unit: apt
	$(CARGO) test --release --lib

bench: deps build
	$(CARGO) build --release --example bare_consumer --example bare_csv_to_parquet --example fraud_soak --example fraud_latency --example kyc_eval
	./scripts/bench.sh
