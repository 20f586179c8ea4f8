"""The endpoints as a team writes them by hand, from Django's, DRF's, simplejwt's and Stripe's
documentation: the benchmark's third server (bench/README.md, "The hand-written server").

    DJANGO_SETTINGS_MODULE=bench.handwritten.settings gunicorn -c config/gunicorn.py bench.handwritten.wsgi
"""
