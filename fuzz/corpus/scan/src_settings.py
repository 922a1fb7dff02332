import os

DB_PASSWORD = os.environ["DB_PASSWORD"]
API_TOKEN = os.getenv("API_TOKEN")
SECRET_KEY = settings.SECRET_KEY
password_min_length = 12
TOKEN_URL = "https://auth.internal/oauth/token"
