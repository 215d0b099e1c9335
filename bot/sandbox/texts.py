"""The page's own words, in English and French (the bot's come from its catalogs)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Sandbox — nothing leaves this machine",
        "start_again": "Start again",
        "start_again_confirm": "Start again? Every chat and the campaign's data are reset.",
        "wall": "Open the wall",
        "new_person": "New person",
        "new_person_prompt": "First name of the new person",
        "add": "Add",
        "cancel": "Cancel",
        "message": "Message",
        "send": "Send",
        "menu": "Menu",
        "start": "START",
        "bot": "bot",
        "reply": "Reply",
        "edited": "edited",
        "download": "Download",
        "ok": "OK",
        "share_with": "Send this link to:",
        "copied": "Copied",
        "offline": "Reconnecting…",
        "organizer": "organizer",
        "volunteer": "volunteer",
        "supporter": "supporter",
        "shared": "{name} sent you:",
        "opens_outside": "Opens outside the sandbox",
    },
    "fr": {
        "title": "Bac à sable — rien ne sort de cette machine",
        "start_again": "Tout recommencer",
        "start_again_confirm": "Tout recommencer ? Les discussions et les données de la "
                               "campagne sont remises à zéro.",
        "wall": "Ouvrir le mur",
        "new_person": "Nouvelle personne",
        "new_person_prompt": "Prénom de la nouvelle personne",
        "add": "Ajouter",
        "cancel": "Annuler",
        "message": "Message",
        "send": "Envoyer",
        "menu": "Menu",
        "start": "DÉMARRER",
        "bot": "bot",
        "reply": "Répondre",
        "edited": "modifié",
        "download": "Télécharger",
        "ok": "OK",
        "share_with": "Envoyer ce lien à :",
        "copied": "Copié",
        "offline": "Reconnexion…",
        "organizer": "organisateur",
        "volunteer": "bénévole",
        "supporter": "sympathisant",
        "shared": "{name} vous a envoyé :",
        "opens_outside": "S'ouvre hors du bac à sable",
    },
}


def language(query: str | None, accept_language: str | None) -> str:
    """`?lang=` first, then the browser's first language we speak, then English."""
    if query in TEXTS:
        return query
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in TEXTS:
            return code
    return "en"
