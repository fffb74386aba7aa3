"""Word lists of the rule-based extractor: titles, actor nouns, and PLOVER event triggers.

Kept apart from the code that uses them so a curator can extend the vocabulary without
reading the matching logic. Every list is lower case unless said otherwise.
"""

from __future__ import annotations

#: Last word of a title before a person's name ("Defense Minister Hulusi Akar").
TITLE_HEADS = frozenset(
    (
        "minister president secretary secretary-general chancellor governor mayor general "
        "commander spokesman spokeswoman spokesperson ambassador envoy chief director "
        "chairman chairwoman chair leader king queen prince princess emir sheikh senator "
        "judge colonel captain lieutenant major admiral marshal pope premier coordinator "
        "commissioner speaker representative deputy lawmaker mp prosecutor attorney-general "
        "cleric imam ayatollah gen. col. lt. maj. capt. sgt. adm. rep. sen. gov. dr. mr. mrs. "
        "ms. president-elect vice-president head negotiator official"
    ).split()
)
#: Words that may stand inside a title before its head ("Foreign Minister", "Vice President").
TITLE_MODIFIERS = frozenset(
    (
        "foreign defense defence interior prime vice deputy finance economy justice health "
        "trade energy oil information home labour labor education acting former interim "
        "supreme chief army military police security opposition rebel opposition foreign "
        "executive general special state national first senior top high"
    ).split()
)
#: Words that make a capitalised name an organisation.
ORGANIZATION_WORDS = frozenset(
    (
        "ministry army forces force police bank court parliament assembly government "
        "commission council committee organization organisation office agency union nations "
        "movement group alliance coalition federation association institute university fund "
        "programme program mission service corps guard guards authority department league "
        "congress senate cabinet church company corporation red cross crescent party board "
        "secretariat tribunal watch international amnesty reuters press news television radio "
        "network navy airforce gendarmerie directorate bureau centre center foundation"
    ).split()
)
#: Words that make an organisation an armed group (non-state fighters).
ARMED_GROUP_WORDS = frozenset(
    (
        "front brigade brigades militia militias liberation jihad taliban qaeda shabaab haram "
        "hezbollah hamas battalion battalions mujahideen tahrir insurgency resistance"
    ).split()
)
#: Prepositions after which a capitalised name is a place ("in Karsaa").
LOCATIVE = frozenset(
    (
        "in near at from into outside inside across around toward towards throughout to via "
        "between within"
    ).split()
)
#: Words after a place name that make it an administrative area, with its place type.
PLACE_SUFFIXES = {
    "province": "province", "governorate": "province", "region": "region",
    "state": "province", "district": "district", "county": "district",
    "prefecture": "province", "oblast": "province", "department": "province",
    "township": "district", "municipality": "district",
}
DIRECTIONS = (
    "north south east west northeast northwest southeast southwest northern southern "
    "eastern western northeastern northwestern southeastern southwestern central"
).split()
#: Capitalised words that start sentences but are not names.
NOT_NAMES = frozenset(
    (
        "a an the this that these those he she it they we i you his her its their our my your "
        "on in at by for from with without since after before during while when where as if "
        "but and or so yet nor also however meanwhile earlier later then there here what who "
        "which whose why how all some many most several few both each every no not one two "
        "three four five six seven eight nine ten dozens hundreds thousands about around more "
        "less over under until though although because despite among between against into "
        "through today yesterday tomorrow last next according asked speaking reporting "
        "editing writing additional separately still even just only once now instead amid "
        "following under photo file reporting-by"
    ).split()
)

#: Heads of described actors ("a senior rebel commander") -> (entity type, person?).
ACTOR_HEADS: dict[str, str] = {
    **dict.fromkeys(
        (
            "commander spokesman spokeswoman spokesperson counterpart negotiator figure leader "
            "envoy diplomat minister president official ambassador governor mayor general colonel "
            "officer chief head lawmaker senator prosecutor judge cleric activist witness "
            "resident medic doctor journalist analyst"
        ).split(), "Person"),
    **dict.fromkeys(
        (
            "rebels militants insurgents jihadists fighters gunmen attackers militia militias "
            "extremists guerrillas separatists bandits kidnappers"
        ).split(), "ArmedGroup"),
    **dict.fromkeys(
        (
            "police army military government regime opposition authorities troops soldiers forces "
            "officials workers protesters demonstrators activists lawmakers legislators residents "
            "villagers students unions strikers diplomats leaders ministers negotiators envoys "
            "delegates delegation administration junta coalition policemen officers judges "
            "prosecutors doctors medics journalists allies sides committee groups donors "
            "agencies politicians partners owners crowd mob employees staff reporters delegations "
            "television"
        ).split(),
        "Organization"),
}
#: Words that, right after an actor head, show it is a modifier ("a government offensive").
HEAD_BLOCKERS = frozenset(
    (
        "offensive operation operations areas area territory territories positions position "
        "bases base strongholds stronghold control side sides crackdown media policy budget "
        "decision plan plans deal sources source held-areas buildings building headquarters "
        "spokesman spokeswoman official officials statement statements figures data "
        "escalation campaign action intervention presence support spending vehicles vehicle "
        "convoy convoys checkpoint checkpoints constitution"
    ).split()
)
#: Modifiers allowed inside a described actor phrase.
ACTOR_MODIFIERS = frozenset(
    (
        "senior top local government rebel opposition security military police rescue civil "
        "defense defence aid humanitarian foreign chief state armed islamist hardline "
        "pro-government anti-government riot federal national provincial regional tribal islamic "
        "sunni shiite shia kurdish christian moderate radical hardliner unidentified unknown "
        "masked suspected alleged former retired army ruling interim elected exiled main "
        "leading opposition's militant jihadist fundamentalist constitutional international "
        "western arab african european religious clan union community protest human rights "
        "factory additional remaining two three both several dissident striking unidentified "
        "local rival pro-democracy student opposition-led"
    ).split()
)
DETERMINERS = frozenset(["a", "an", "the", "his", "her", "its", "their", "our"])

#: Triggers that are nouns: with "the"/"this"/"that" and no "by"-agent they refer back to an
#: event already reported ("the offensive showed ...") rather than report a new one.
NOUN_TRIGGERS = frozenset(
    "offensive counterattack counter-offensive attack attacks strike strikes air strike "
    "air strikes airstrike airstrikes bombing bombings shelling clashes fighting talks "
    "meeting visit summit agreement deal ceasefire cease-fire truce accord sanctions embargo "
    "protest protests demonstration demonstrations rally aid assistance relief cooperation "
    "violation threat threats warning pressure crackdown raid raids curfew withdrawal "
    "explosion ambush massacre invasion negotiations consultations criticism accusation "
    "accusations appeal appeals request demand demands deployment mobilization detention "
    "arrest arrests release concession concessions boycott veto ultimatum assault".split()
)
#: Described places ("the opposition-held areas", "a buffer zone", "the capital"), read like
#: described actors; "the country" and "the capital" refer back to the last such place.
PLACE_HEADS = frozenset(
    "areas area zone stronghold enclave enclaves camp camps outskirts country region capital "
    "border".split()
)
#: Nouns after which a nationality adjective is not an actor ("a new Syrian constitution").
NOT_ACTOR_NOUNS = frozenset(
    (
        "constitution war civil border borders territory city cities capital people refugees "
        "civilians villages village town towns soil economy language culture coast region "
        "province provinces side national nationals citizens citizen children families "
        "migrants workers students journalist journalists currency market markets waters "
        "airspace president-elect initials name acronym words flag"
    ).split()
)
#: PLOVER triggers: word form -> (event type, base confidence). Multi-word keys match as
#: phrases; disambiguation of the ambiguous ones is done by the extractor.
TRIGGERS: dict[str, tuple[str, float]] = {}


def _add(event_type: str, confidence: float, words: str) -> None:
    for word in words.split(","):
        TRIGGERS[word.strip()] = (event_type, confidence)


_add("CONSULT", 0.8, "discussed,discuss,discusses,discussing,talks,held talks,hold talks,"
     "met,meet,meets,meeting,visited,visit,visits,visiting,consulted,consultations,spoke with,"
     "spoke,spoken,consult,consulting,"
     "spoke to,phone call,telephone call,summit,hosted,received,told,negotiations,negotiated,"
     "negotiating,conferred")
_add("AGREE", 0.8, "agreed,agree,agrees,agreement,signed,sign,signing,accord,ceasefire,"
     "cease-fire,truce,deal,pledged,pledge,pledges,promised,committed,reached a deal,"
     "reached an agreement,struck a deal")
_add("SUPPORT", 0.75, "backed,backs,backing,supported,supports,support,endorsed,endorse,"
     "praised,welcomed,welcomes,recognised,recognized,defended,sided with")
_add("COOPERATE", 0.75, "cooperate,cooperation,cooperated,worked together,work together,"
     "working together,collaborate,collaborated,partnership,allied,coordinated")
_add("AID", 0.75, "sent,send,sending,shipped,distributed,distributing,provide,providing,"
     "delivering,airdropped")
_add("AID", 0.8, "aid,assistance,delivered,deliveries,delivery,donated,donation,relief,"
     "provided,supplies,sent food,airlifted,evacuated,rescued,shelter,funding")
_add("CONCEDE", 0.7, "released,freed,release,conceded,concession,concessions,eased,lifted,"
     "apologised,apologized,resigned,pardoned,amnesty,reopened,allowed,granted")
_add("RETREAT", 0.8, "withdrew,withdraw,withdrawal,withdrawn,pulled out,pull out,retreated,"
     "retreat,pulled back,demobilized,disarmed,evacuated positions")
_add("REQUEST", 0.75, "called on,called for,calls for,call for,calls on,urged,urges,urge,"
     "appealed,appeal,appeals,asked,demanded,demands,demand,requested,request,pressure,"
     "pressed,push,pushed,sought,seeking,invited")
_add("ACCUSE", 0.8, "called,accusing,accused,accuses,accuse,accusation,accusations,blamed,"
     "blames,blame,"
     "condemned,condemns,condemn,criticised,criticized,criticism,denounced,alleged,"
     "violation,violating,violated,charged")
_add("REJECT", 0.75, "rejected,rejects,reject,refused,refuses,refuse,dismissed,vetoed,"
     "veto,boycotted,boycott,ruled out,turned down")
_add("THREATEN", 0.75, "threatened,threatens,threaten,threat,threats,warned,warns,warning,"
     "ultimatum,collapse,vowed")
_add("PROTEST", 0.85, "protest,protests,protested,protesting,protesters,demonstration,"
     "demonstrations,demonstrated,rally,rallies,rallied,marched,march,sit-in,"
     "general strike,went on strike,strike action,walkout,hunger strike,blocked,blockade,"
     "blockading")
_add("SANCTION", 0.85, "sanctions,sanctioned,sanction,embargo,froze,frozen,freeze,"
     "asset freeze,expelled,expel,expulsion,suspended,suspend,banned,blacklisted,tariffs,"
     "severed,cut ties,recalled")
_add("MOBILIZE", 0.75, "deployed,deploy,deployment,mobilized,mobilised,mobilization,"
     "reinforcements,massed,state of emergency,troops to,sent troops,dispatched,"
     "put on alert,alert")
_add("COERCE", 0.75, "arrested,arrests,arrest,detained,detain,detention,curfew,raided,"
     "raid,raids,crackdown,cracked down,seized,dispersed,tear gas,confiscated,deported,"
     "imposed,jailed,sentenced,tortured,kidnapped,abducted,held hostage")
_add("ASSAULT", 0.8, "attack,attacks,attacked,attacking,offensive,counterattack,"
     "counter-offensive,strike,strikes,air strike,air strikes,airstrike,airstrikes,"
     "bombed,bombing,bombings,bomb,bombs,shelling,shelled,clashes,clashed,fighting,"
     "killed,kills,killing,ambush,ambushed,explodes,exploded,explosion,fired,shot,"
     "struck,hit,assault,assaulted,massacre,stormed,invaded,invasion,dropped,"
     "suicide bombing,rocket fire,rockets,drone strike,gunfire,raze,destroyed,torched,"
     "looted,executed,beheaded,opened fire,threw,hurled,overran,shootout,targeted")
