#!/bin/sh
# Writes docs/openapi.json into the binary's copy,
# Sources/ChronikServer/OpenAPIDocument.swift (OpenAPITests fails when
# the two differ). Run from the package root after editing the document.
set -eu
out=Sources/ChronikServer/OpenAPIDocument.swift
python3 -c 'import json,sys; json.load(open("docs/openapi.json"))'  # valid JSON first
{
  printf '// Generated from docs/openapi.json by docs/openapi.embed.sh: edit the\n'
  printf '// document, then run the script (OpenAPITests checks the two are the same).\n\n'
  printf '/// The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.\n'
  printf 'public let openAPIDocument = #"""\n'
  cat docs/openapi.json
  printf '"""#\n'
} > "$out.tmp"
mv "$out.tmp" "$out"
