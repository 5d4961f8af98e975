"""sinacrawl: a Scrapy crawler for Sina Finance that archives articles as Hexo posts or in MongoDB."""

__version__ = "0.1.0"
