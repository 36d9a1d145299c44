"""Readable names for FAQ categories, which are stored as short slugs (`lost-and-found`).

Residents see these names; staff keep typing and importing the slugs. A slug not listed
here is shown with its dashes as spaces (`student-life` → "Student life").
"""

from typing import NamedTuple


class CategoryName(NamedTuple):
    en: str
    zh: str = ""


CATEGORY_NAMES = {
    "admissions": CategoryName("Admissions", "招生"),
    "campus-services": CategoryName("Campus services", "校园服务"),
    "dining": CategoryName("Dining", "餐饮"),
    "dorms": CategoryName("Dorms", "宿舍"),
    "financial-aid": CategoryName("Financial aid", "学生资助"),
    "health": CategoryName("Health", "健康"),
    "id-cards": CategoryName("ID cards", "校园卡"),
    "international": CategoryName("International students", "国际学生"),
    "it": CategoryName("IT services", "信息技术服务"),
    "library": CategoryName("Library", "图书馆"),
    "lost-and-found": CategoryName("Lost and found", "失物招领"),
    "mail": CategoryName("Mail", "邮件"),
    "parking": CategoryName("Parking", "停车"),
    "registrar": CategoryName("Registrar", "教务"),
    "security": CategoryName("Campus security", "校园安全"),
    "sports": CategoryName("Sports", "体育"),
    "transport": CategoryName("Transport", "交通"),
}
GENERAL = CategoryName("General", "综合")


def category_name(slug: str) -> CategoryName:
    slug = slug.strip()
    if not slug:
        return GENERAL
    if slug.lower() in CATEGORY_NAMES:
        return CATEGORY_NAMES[slug.lower()]
    words = slug.replace("-", " ").replace("_", " ")
    return CategoryName(words[:1].upper() + words[1:])
