TEST_FIXTURE_TOKEN = "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"  # gsec:allow fixture for the parser tests
