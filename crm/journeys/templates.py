"""The four journey templates of DOMAIN.md. A template is only a starting point: creating
a journey from one copies its phases into rows that admins then edit."""

from dataclasses import dataclass, field

from crm.core.errors import N_
from crm.journeys.models import PhaseKind

PRE, PURCHASE, POST = PhaseKind.PRE_PURCHASE, PhaseKind.PURCHASE, PhaseKind.POST_PURCHASE


@dataclass(frozen=True)
class PhaseTemplate:
    key: str
    name: str
    kind: PhaseKind
    target_days: int | None = None
    parent: str | None = None
    map_rows: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JourneyTemplate:
    key: str
    name: str
    description: str
    phases: list[PhaseTemplate]


CLASSIC = JourneyTemplate(
    "classic",
    N_("Classic"),
    N_("B2C and general: awareness, consideration, conversion, retention, advocacy."),
    [
        PhaseTemplate(
            "awareness",
            N_("Awareness"),
            PRE,
            30,
            map_rows={
                "behaviour": N_("Notices a need; meets the brand by chance."),
                "questions": N_("Is there something that solves my problem?"),
                "typical_touchpoints": N_("Ads, social media, press, recommendations"),
                "emotions": N_("Curiosity"),
                "pain_points": N_("Unclear ad"),
            },
        ),
        PhaseTemplate(
            "consideration",
            N_("Consideration"),
            PRE,
            45,
            map_rows={
                "behaviour": N_("Compares offers, reads reviews, asks around."),
                "questions": N_("What does it bring me? What do others say?"),
                "typical_touchpoints": N_("Website, newsletter, review portals, sales talk"),
                "emotions": N_("Uncertainty"),
                "pain_points": N_("Missing information"),
            },
        ),
        PhaseTemplate(
            "conversion",
            N_("Conversion"),
            PURCHASE,
            14,
            map_rows={
                "behaviour": N_("Decides and buys."),
                "questions": N_("Is this the right price? How do I pay?"),
                "typical_touchpoints": N_("Shop, sales talk, offer"),
                "emotions": N_("Determination"),
                "pain_points": N_("Payment problems"),
            },
        ),
        PhaseTemplate(
            "retention",
            N_("Retention"),
            POST,
            90,
            map_rows={
                "behaviour": N_("Uses the product; needs help now and then."),
                "questions": N_("Does it keep its promise? Who helps me?"),
                "typical_touchpoints": N_("Delivery, support, check-in calls, surveys"),
                "emotions": N_("Joy or disappointment"),
                "pain_points": N_("Unreliable service"),
            },
        ),
        PhaseTemplate(
            "advocacy",
            N_("Advocacy"),
            POST,
            180,
            map_rows={
                "behaviour": N_("Recommends the company, writes reviews."),
                "questions": N_("Whom can I tell about it?"),
                "typical_touchpoints": N_("Review portals, referrals, case studies"),
                "emotions": N_("Pride"),
                "pain_points": N_("No way to give feedback"),
            },
        ),
    ],
)

TEMPLATES = {
    template.key: template
    for template in [
        CLASSIC,
        JourneyTemplate(
            "b2b_five",
            N_("B2B five"),
            N_("Awareness, consideration, decision, purchase, post-purchase."),
            [
                PhaseTemplate("awareness", N_("Awareness"), PRE, 30),
                PhaseTemplate("consideration", N_("Consideration"), PRE, 60),
                PhaseTemplate("decision", N_("Decision"), PRE, 45),
                PhaseTemplate("purchase", N_("Purchase"), PURCHASE, 30),
                PhaseTemplate("post_purchase", N_("Post-purchase"), POST, 90),
            ],
        ),
        JourneyTemplate(
            "b2b_after_sales",
            N_("B2B with after-sales"),
            N_("Acquisition, service and after-sales, each split into sub-phases."),
            [
                PhaseTemplate("awareness", N_("Awareness"), PRE, 30),
                PhaseTemplate("consideration", N_("Consideration"), PRE, 60),
                PhaseTemplate("acquisition", N_("Acquisition"), PURCHASE),
                PhaseTemplate("decision", N_("Decision"), PURCHASE, 45, "acquisition"),
                PhaseTemplate("negotiation", N_("Negotiation"), PURCHASE, 30, "acquisition"),
                PhaseTemplate("service", N_("Service"), POST),
                PhaseTemplate("onboarding", N_("Onboarding"), POST, 30, "service"),
                PhaseTemplate("support", N_("Support"), POST, 60, "service"),
                PhaseTemplate("account_management", N_("Account management"), POST, 90, "service"),
                PhaseTemplate("after_sales", N_("After-sales"), POST),
                PhaseTemplate("loyalty", N_("Loyalty"), POST, 90, "after_sales"),
                PhaseTemplate("advocacy", N_("Advocacy"), POST, 180, "after_sales"),
                PhaseTemplate(
                    "repurchase",
                    N_("Repurchase"),
                    POST,
                    60,
                    "after_sales",
                    {"behaviour": N_("Renewal, cross- and up-selling.")},
                ),
            ],
        ),
        JourneyTemplate(
            "product_usage",
            N_("Product usage"),
            N_("Awareness, consideration, purchase, usage, loyalty."),
            [
                PhaseTemplate("awareness", N_("Awareness"), PRE, 30),
                PhaseTemplate("consideration", N_("Consideration"), PRE, 45),
                PhaseTemplate("purchase", N_("Purchase"), PURCHASE, 14),
                PhaseTemplate("usage", N_("Usage"), POST, 90),
                PhaseTemplate("loyalty", N_("Loyalty"), POST, 180),
            ],
        ),
    ]
}
