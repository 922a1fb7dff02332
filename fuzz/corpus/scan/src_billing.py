import stripe

stripe.api_key = "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"


def charge(amount):
    return stripe.Charge.create(amount=amount)
