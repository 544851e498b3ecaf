"""Every fixed text citebot says, in English, Russian and Kazakh, chosen by a language code.

The quotes of an answer stay in the documents' language; only the bot's own words are translated.
Counts are written as "Documents: 12" rather than "12 documents" so no language needs plural rules.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.text.scripts import script_language

LANGUAGES = ("en", "ru", "kk")
DEFAULT = "en"

TEXTS: Mapping[str, Mapping[str, str]] = {
    # ---- greeting and help -------------------------------------------------------------------
    "greeting": {
        "en": "Hello! I answer questions from my documents, quoting the sentences I found and citing where they "
        "come from. Documents: {documents}, sentences: {sentences}.\n\n"
        "Here, just send me your question. In a group, write /ask <question>, mention @{username}, or reply to "
        "one of my messages.\n\n/help lists my commands.",
        "ru": "Здравствуйте! Я отвечаю на вопросы по своим документам: цитирую найденные предложения и указываю, "
        "откуда они взяты. Документов: {documents}, предложений: {sentences}.\n\n"
        "Здесь просто отправьте мне вопрос. В группе напишите /ask <вопрос>, упомяните @{username} или ответьте "
        "на одно из моих сообщений.\n\n/help — список команд.",
        "kk": "Сәлеметсіз бе! Мен өз құжаттарым бойынша сұрақтарға жауап беремін: тапқан сөйлемдерімді келтіріп, "
        "олардың қайдан алынғанын көрсетемін. Құжаттар: {documents}, сөйлемдер: {sentences}.\n\n"
        "Мұнда сұрағыңызды жай ғана жіберіңіз. Топта /ask <сұрақ> деп жазыңыз, @{username} деп атаңыз немесе "
        "менің хабарламама жауап беріңіз.\n\n/help — командалар тізімі.",
    },
    "help": {
        "en": "Send me a question in plain words and I'll quote the documents that answer it, with sources.\n"
        "In groups: /ask <question>, mention @{username}, or reply to my message.\n"
        "Under each answer: 📄 opens the quoted sentence in its document, ➕ shows more passages, 👍 and 👎 "
        "tell the admins whether it helped.\n\n{commands}",
        "ru": "Задайте вопрос обычными словами, и я процитирую документы, в которых есть ответ, с указанием "
        "источников.\nВ группах: /ask <вопрос>, упоминание @{username} или ответ на моё сообщение.\n"
        "Под каждым ответом: 📄 открывает цитату в её документе, ➕ показывает ещё фрагменты, 👍 и 👎 "
        "сообщают администраторам, помог ли ответ.\n\n{commands}",
        "kk": "Сұрағыңызды қарапайым сөзбен жазыңыз, мен жауабы бар құжаттардан дереккөзін көрсетіп үзінді "
        "келтіремін.\nТоптарда: /ask <сұрақ>, @{username} деп атау немесе менің хабарламама жауап беру.\n"
        "Әр жауаптың астында: 📄 үзіндіні өз құжатында ашады, ➕ тағы үзінділер көрсетеді, 👍 мен 👎 "
        "әкімшілерге жауаптың пайдалы болған-болмағанын білдіреді.\n\n{commands}",
    },
    "command_start": {
        "en": "What I know and how to ask me",
        "ru": "Что я знаю и как меня спросить",
        "kk": "Не білемін және маған қалай сұрақ қоюға болады",
    },
    "command_help": {"en": "List the commands", "ru": "Список команд", "kk": "Командалар тізімі"},
    "command_ask": {
        "en": "Ask a question (needed in groups): /ask <question>",
        "ru": "Задать вопрос (нужно в группах): /ask <вопрос>",
        "kk": "Сұрақ қою (топтарда қажет): /ask <сұрақ>",
    },
    "command_reload": {
        "en": "Admins: re-read the documents folder",
        "ru": "Для администраторов: перечитать папку с документами",
        "kk": "Әкімшілерге: құжаттар қалтасын қайта оқу",
    },
    "command_stats": {
        "en": "Admins: corpus size, uptime, questions answered",
        "ru": "Для администраторов: объём документов, время работы, число ответов",
        "kk": "Әкімшілерге: құжаттар көлемі, жұмыс уақыты, жауаптар саны",
    },
    "command_feedback": {
        "en": "Admins: 👍/👎 of the last 7 days and the latest 👎",
        "ru": "Для администраторов: 👍/👎 за 7 дней и последние 👎",
        "kk": "Әкімшілерге: соңғы 7 күндегі 👍/👎 және соңғы 👎",
    },
    "command_gaps": {
        "en": "Admins: the questions most often not found",
        "ru": "Для администраторов: вопросы, на которые чаще всего не нашлось ответа",
        "kk": "Әкімшілерге: жауабы жиі табылмаған сұрақтар",
    },
    "command_sync": {
        "en": "Admins: fetch the websites of the sources file now",
        "ru": "Для администраторов: загрузить сайты из файла источников сейчас",
        "kk": "Әкімшілерге: дереккөздер файлындағы сайттарды қазір жүктеу",
    },
    "command_sources": {
        "en": "Admins: the websites followed and their last sync",
        "ru": "Для администраторов: отслеживаемые сайты и их последняя загрузка",
        "kk": "Әкімшілерге: бақыланатын сайттар және олардың соңғы жүктелуі",
    },
    "sync_started": {
        "en": "Syncing the websites…",
        "ru": "Загружаю сайты…",
        "kk": "Сайттарды жүктеп жатырмын…",
    },
    "sync_waiting": {
        "en": "A sync is running; this one starts when it ends…",
        "ru": "Уже идёт загрузка сайтов; эта начнётся, когда она закончится…",
        "kk": "Сайттар жүктеліп жатыр; бұл жүктеу ол аяқталғанда басталады…",
    },
    "sync_no_sources": {
        "en": "Cannot sync: {error}",
        "ru": "Не удалось загрузить сайты: {error}",
        "kk": "Сайттарды жүктеу мүмкін болмады: {error}",
    },
    "command_remove": {
        "en": "Admins: delete an uploaded document: /remove <name>",
        "ru": "Для администраторов: удалить загруженный документ: /remove <имя>",
        "kk": "Әкімшілерге: жүктелген құжатты жою: /remove <атауы>",
    },
    "help_upload": {
        "en": "Admins: send me a file here (PDF, DOCX, EPUB, ODT, HTML, TXT or MD, up to {limit:g} MB) to add it "
        "to the documents; /remove deletes one you added.",
        "ru": "Для администраторов: пришлите мне сюда файл (PDF, DOCX, EPUB, ODT, HTML, TXT или MD, до {limit:g} МБ), "
        "чтобы добавить его в документы; /remove удаляет добавленный.",
        "kk": "Әкімшілерге: құжаттарға қосу үшін маған осында файл жіберіңіз (PDF, DOCX, EPUB, ODT, HTML, TXT "
        "немесе MD, {limit:g} МБ-қа дейін); /remove қосылған құжатты жояды.",
    },
    # ---- answers -----------------------------------------------------------------------------
    "not_found": {
        "en": "I couldn't find this in the documents.",
        "ru": "Я не нашёл этого в документах.",
        "kk": "Бұл туралы құжаттардан ештеңе таппадым.",
    },
    "closest": {
        "en": "I found no confident answer. The closest passage in the documents:",
        "ru": "Уверенного ответа я не нашёл. Ближе всего к вопросу этот фрагмент документов:",
        "kk": "Сенімді жауап таппадым. Құжаттардағы сұраққа ең жақын үзінді:",
    },
    "not_found_hint": {
        "en": "Try other words for the same question, name the subject more precisely, or ask something the "
        "documents cover.",
        "ru": "Попробуйте задать тот же вопрос другими словами, точнее назвать предмет или спросить о том, что "
        "есть в документах.",
        "kk": "Сол сұрақты басқа сөздермен қойып көріңіз, тақырыпты нақтырақ атаңыз немесе құжаттарда бар нәрсе "
        "туралы сұраңыз.",
    },
    "sources": {"en": "Sources", "ru": "Источники", "kk": "Дереккөздер"},
    "more_heading": {
        "en": "More on: {question}",
        "ru": "Ещё по вопросу: {question}",
        "kk": "Осы сұрақ бойынша тағы: {question}",
    },
    "nothing_more": {
        "en": "Nothing more in the documents for this question.",
        "ru": "Больше по этому вопросу в документах ничего нет.",
        "kk": "Бұл сұрақ бойынша құжаттарда басқа ештеңе жоқ.",
    },
    # ---- refusals and hints ------------------------------------------------------------------
    "refusal": {
        "en": "Sorry, this bot only answers its approved users and chats.",
        "ru": "Извините, этот бот отвечает только одобренным пользователям и чатам.",
        "kk": "Кешіріңіз, бұл бот тек рұқсат етілген пайдаланушылар мен чаттарға жауап береді.",
    },
    "not_admin": {
        "en": "Sorry, only the bot's admins can use /{command}.",
        "ru": "Извините, команда /{command} доступна только администраторам бота.",
        "kk": "Кешіріңіз, /{command} командасын тек бот әкімшілері қолдана алады.",
    },
    "slow_down": {
        "en": "You're sending questions faster than I can answer them. Please wait a minute, then ask again.",
        "ru": "Вы присылаете вопросы быстрее, чем я успеваю отвечать. Подождите минуту и спросите снова.",
        "kk": "Сұрақтарды мен жауап беріп үлгергеннен жылдам жіберіп жатырсыз. Бір минут күтіп, қайта сұраңыз.",
    },
    "one_at_a_time": {
        "en": "I'm still answering your earlier questions. Please send the next one when they're answered.",
        "ru": "Я ещё отвечаю на ваши предыдущие вопросы. Пришлите следующий, когда получите ответы.",
        "kk": "Мен әлі алдыңғы сұрақтарыңызға жауап беріп жатырмын. Жауап алған соң келесісін жіберіңіз.",
    },
    "ask_usage": {
        "en": "Usage: /ask <your question>, for example: /ask when was the library founded?",
        "ru": "Как спросить: /ask <ваш вопрос>, например: /ask когда основана библиотека?",
        "kk": "Қалай сұрау керек: /ask <сұрағыңыз>, мысалы: /ask кітапхана қашан ашылған?",
    },
    "mention_usage": {
        "en": "Ask me a question along with the mention, for example: @{username} when was it founded?",
        "ru": "Напишите вопрос вместе с упоминанием, например: @{username} когда это было основано?",
        "kk": "Сұрағыңызды атаумен бірге жазыңыз, мысалы: @{username} бұл қашан құрылған?",
    },
    "too_long": {
        "en": "That question is too long for me. Please ask in under {limit} characters.",
        "ru": "Вопрос слишком длинный. Пожалуйста, уложитесь в {limit} символов.",
        "kk": "Сұрақ тым ұзын. Өтініш, {limit} таңбадан аспайтындай етіп жазыңыз.",
    },
    "send_text": {
        "en": "Please send me your question as a text message.",
        "ru": "Пожалуйста, пришлите вопрос текстовым сообщением.",
        "kk": "Өтініш, сұрағыңызды мәтіндік хабарлама етіп жіберіңіз.",
    },
    "unknown_command": {
        "en": "I don't know that command. /help lists the ones I have.",
        "ru": "Я не знаю такой команды. Список моих команд — /help.",
        "kk": "Мен мұндай команданы білмеймін. Менің командаларым тізімі — /help.",
    },
    "something_wrong": {
        "en": "Sorry, something went wrong on my side. Please try again in a moment.",
        "ru": "Извините, у меня что-то пошло не так. Попробуйте ещё раз чуть позже.",
        "kk": "Кешіріңіз, менде бірдеңе дұрыс болмады. Сәлден соң қайта көріңіз.",
    },
    # ---- buttons and their toasts ------------------------------------------------------------
    "button_source": {"en": "📄 Source", "ru": "📄 Источник", "kk": "📄 Дереккөз"},
    "button_source_n": {"en": "📄 Source {number}", "ru": "📄 Источник {number}", "kk": "📄 Дереккөз {number}"},
    "button_more": {"en": "➕ More", "ru": "➕ Ещё", "kk": "➕ Тағы"},
    "voted_up": {
        "en": "Thanks! Recorded: 👍",
        "ru": "Спасибо! Учтено: 👍",
        "kk": "Рақмет! Есепке алынды: 👍",
    },
    "voted_down": {
        "en": "Thanks! Recorded: 👎 — the admins will see this question.",
        "ru": "Спасибо! Учтено: 👎 — администраторы увидят этот вопрос.",
        "kk": "Рақмет! Есепке алынды: 👎 — әкімшілер бұл сұрақты көреді.",
    },
    "vote_pending": {
        "en": "Thanks! Your vote will be recorded in a moment.",
        "ru": "Спасибо! Ваш голос будет учтён через минуту.",
        "kk": "Рақмет! Дауысыңыз сәлден соң есепке алынады.",
    },
    "vote_failed": {
        "en": "Sorry, I couldn't record your vote just now.",
        "ru": "Извините, сейчас не удалось учесть ваш голос.",
        "kk": "Кешіріңіз, дауысыңызды қазір есепке алу мүмкін болмады.",
    },
    "document_gone": {
        "en": "That document is no longer among my documents.",
        "ru": "Этого документа больше нет среди моих документов.",
        "kk": "Бұл құжат енді менің құжаттарымның арасында жоқ.",
    },
    "sentence_gone": {
        "en": "That document has changed since this answer; the quoted sentence is no longer in it.",
        "ru": "Документ изменился после этого ответа: цитируемого предложения в нём больше нет.",
        "kk": "Бұл жауаптан кейін құжат өзгерді: келтірілген сөйлем енді онда жоқ.",
    },
    "answer_gone": {
        "en": "I no longer have this answer on record; please ask the question again.",
        "ru": "Этого ответа у меня больше нет; пожалуйста, задайте вопрос ещё раз.",
        "kk": "Бұл жауап менде енді сақталмаған; сұрағыңызды қайта қойыңыз.",
    },
    "bad_button": {
        "en": "Sorry, this button doesn't work. Please ask the question again.",
        "ru": "Извините, эта кнопка не работает. Пожалуйста, задайте вопрос ещё раз.",
        "kk": "Кешіріңіз, бұл түйме жұмыс істемейді. Сұрағыңызды қайта қойыңыз.",
    },
    "source_sent": {"en": "Source below ⬇️", "ru": "Источник ниже ⬇️", "kk": "Дереккөз төменде ⬇️"},
    "more_sent": {"en": "More below ⬇️", "ru": "Продолжение ниже ⬇️", "kk": "Жалғасы төменде ⬇️"},
    # ---- inline mode -------------------------------------------------------------------------
    "inline_not_found": {
        "en": "Not found in the documents",
        "ru": "В документах не найдено",
        "kk": "Құжаттардан табылмады",
    },
    "inline_refusal": {
        "en": "Not available to you",
        "ru": "Вам недоступно",
        "kk": "Сізге қолжетімсіз",
    },
    "inline_slow_down": {
        "en": "Too many questions — wait a minute",
        "ru": "Слишком много вопросов — подождите минуту",
        "kk": "Сұрақтар тым көп — бір минут күтіңіз",
    },
    # ---- admin replies -----------------------------------------------------------------------
    "reload_running": {
        "en": "A reload is already running; yours will start right after it.",
        "ru": "Перезагрузка уже идёт; ваша начнётся сразу после неё.",
        "kk": "Қайта жүктеу жүріп жатыр; сіздікі одан кейін бірден басталады.",
    },
    "reload_done": {
        "en": "Reloaded in {seconds:.1f} s. Documents: {documents}, sentences: {sentences}.",
        "ru": "Перезагружено за {seconds:.1f} с. Документов: {documents}, предложений: {sentences}.",
        "kk": "{seconds:.1f} с ішінде қайта жүктелді. Құжаттар: {documents}, сөйлемдер: {sentences}.",
    },
    "reload_skipped": {
        "en": "Skipped files: {count}",
        "ru": "Пропущено файлов: {count}",
        "kk": "Өткізіп жіберілген файлдар: {count}",
    },
    "reload_warned": {
        "en": "Read with a warning: {count}",
        "ru": "Прочитано с предупреждением: {count}",
        "kk": "Ескертумен оқылғандар: {count}",
    },
    "reload_group": {
        "en": "- {reason}: {count} file(s): {names}",
        "ru": "- {reason}: файлов: {count}: {names}",
        "kk": "- {reason}: {count} файл: {names}",
    },
    "reload_group_more": {"en": " and {count} more", "ru": " и ещё {count}", "kk": " және тағы {count}"},
    "reload_other_reasons": {
        "en": "- {count} other reason(s): {files} file(s)",
        "ru": "- других причин: {count}, файлов: {files}",
        "kk": "- басқа себептер: {count}, файлдар: {files}",
    },
    "reload_failed": {
        "en": "Reload failed: {error}\n\nI'm still answering from the previous documents. Documents: {documents}, "
        "sentences: {sentences}.",
        "ru": "Перезагрузка не удалась: {error}\n\nЯ продолжаю отвечать по прежним документам. Документов: "
        "{documents}, предложений: {sentences}.",
        "kk": "Қайта жүктеу сәтсіз аяқталды: {error}\n\nМен бұрынғы құжаттар бойынша жауап беруді жалғастырамын. "
        "Құжаттар: {documents}, сөйлемдер: {sentences}.",
    },
    # ---- documents added by sending them -------------------------------------------------------
    "upload_added": {
        "en": "Added {path}.\nTitle: {title}\nSentences: {sentences}{pages}.\n"
        "Documents now: {documents}, sentences in all: {total}.",
        "ru": "Добавлен файл {path}.\nНазвание: {title}\nПредложений: {sentences}{pages}.\n"
        "Теперь документов: {documents}, всего предложений: {total}.",
        "kk": "{path} файлы қосылды.\nАтауы: {title}\nСөйлемдер: {sentences}{pages}.\n"
        "Енді құжаттар: {documents}, барлық сөйлемдер: {total}.",
    },
    "upload_pages": {"en": ", pages: {pages}", "ru": ", страниц: {pages}", "kk": ", беттер: {pages}"},
    "upload_not_added": {
        "en": "{name} was not added: {reason}",
        "ru": "Файл {name} не добавлен: {reason}",
        "kk": "{name} файлы қосылмады: {reason}",
    },
    "upload_download_limit": {
        "en": "Telegram lets bots download files of at most 20 MB, so I can't receive this one. Copy it into the "
        "documents folder on the server instead, then send /reload.",
        "ru": "Telegram позволяет ботам скачивать файлы размером не больше 20 МБ, поэтому этот файл я получить "
        "не могу. Скопируйте его в папку с документами на сервере и отправьте /reload.",
        "kk": "Telegram боттарға 20 МБ-тан аспайтын файлдарды ғана жүктеп алуға мүмкіндік береді, сондықтан бұл "
        "файлды ала алмаймын. Оны сервердегі құжаттар қалтасына көшіріп, /reload жіберіңіз.",
    },
    "upload_not_admin": {
        "en": "Sorry, only the bot's admins can add documents. To ask a question, send it as a text message.",
        "ru": "Извините, добавлять документы могут только администраторы бота. Чтобы задать вопрос, пришлите его "
        "текстовым сообщением.",
        "kk": "Кешіріңіз, құжаттарды тек бот әкімшілері қоса алады. Сұрақ қою үшін оны мәтіндік хабарлама етіп "
        "жіберіңіз.",
    },
    "upload_saved": {
        "en": "Saved as {path}.",
        "ru": "Сохранено как {path}.",
        "kk": "{path} ретінде сақталды.",
    },
    "upload_left_out": {
        "en": "{path} was saved, but the reload left it out: {reason}",
        "ru": "Файл {path} сохранён, но при перезагрузке пропущен: {reason}",
        "kk": "{path} файлы сақталды, бірақ қайта жүктеу кезінде өткізіліп жіберілді: {reason}",
    },
    "upload_refused_over": {
        "en": "the file is over the limit of {limit:g} MB",
        "ru": "файл больше предела в {limit:g} МБ",
        "kk": "файл {limit:g} МБ шегінен асады",
    },
    "upload_refused_size": {
        "en": "the file is {size:.1f} MB; the limit is {limit:g} MB",
        "ru": "файл весит {size:.1f} МБ, а предел — {limit:g} МБ",
        "kk": "файл көлемі {size:.1f} МБ, ал шегі — {limit:g} МБ",
    },
    "upload_refused_kind": {
        "en": "I can't read this kind of file. I read {kinds}.",
        "ru": "я не умею читать такие файлы. Я читаю: {kinds}.",
        "kk": "мен мұндай файлдарды оқи алмаймын. Оқитындарым: {kinds}.",
    },
    "upload_refused_unreadable": {
        "en": "I couldn't read it: {reason}.",
        "ru": "не удалось его прочитать: {reason}.",
        "kk": "оны оқу мүмкін болмады: {reason}.",
    },
    "upload_refused_no_text": {
        "en": "I found no sentences in it, no words to search.",
        "ru": "я не нашёл в нём ни одного предложения, искать не по чему.",
        "kk": "онда бірде-бір сөйлем таппадым, іздейтін сөз жоқ.",
    },
    "upload_refused_copy": {
        "en": "this file is already in the documents, as {path}",
        "ru": "этот файл уже есть среди документов: {path}",
        "kk": "бұл файл құжаттар арасында бар: {path}",
    },
    "upload_not_saved": {
        "en": "I couldn't save it in the documents folder ({error}).",
        "ru": "не удалось сохранить его в папку с документами ({error}).",
        "kk": "оны құжаттар қалтасына сақтау мүмкін болмады ({error}).",
    },
    "upload_refused_name_taken": {
        "en": "too many files of that name already",
        "ru": "файлов с таким именем уже слишком много",
        "kk": "бұл атаумен файлдар тым көп",
    },
    "remove_list": {
        "en": "Usage: /remove <name>. Uploaded documents:\n{names}",
        "ru": "Как удалить: /remove <имя>. Загруженные документы:\n{names}",
        "kk": "Қалай жою керек: /remove <атауы>. Жүктелген құжаттар:\n{names}",
    },
    "remove_none": {
        "en": "Usage: /remove <name>. No documents have been uploaded yet: send me a file to add one.",
        "ru": "Как удалить: /remove <имя>. Загруженных документов пока нет: пришлите мне файл, чтобы добавить его.",
        "kk": "Қалай жою керек: /remove <атауы>. Әзірге жүктелген құжаттар жоқ: қосу үшін маған файл жіберіңіз.",
    },
    "remove_missing": {
        "en": "there is no uploaded document called {name}",
        "ru": "загруженного документа с именем {name} нет",
        "kk": "{name} деген жүктелген құжат жоқ",
    },
    "remove_failed": {
        "en": "Nothing removed: {reason}. /remove alone lists the uploaded documents.",
        "ru": "Ничего не удалено: {reason}. Список загруженных документов — /remove без имени.",
        "kk": "Ештеңе жойылмады: {reason}. Жүктелген құжаттар тізімі — атаусыз /remove.",
    },
    "remove_done": {
        "en": "Removed {path}. Documents: {documents}, sentences: {sentences}.",
        "ru": "Удалён файл {path}. Документов: {documents}, предложений: {sentences}.",
        "kk": "{path} файлы жойылды. Құжаттар: {documents}, сөйлемдер: {sentences}.",
    },
    "remove_removed": {
        "en": "Removed {path}.",
        "ru": "Удалён файл {path}.",
        "kk": "{path} файлы жойылды.",
    },
    "stats": {
        "en": "Documents: {documents} (sentences: {sentences}; files skipped or with warnings: {skipped})\n"
        "Uptime: {uptime}\nQuestions answered: {answered}\nQuestions not found in the documents: {not_found}",
        "ru": "Документов: {documents} (предложений: {sentences}; файлов пропущено или с предупреждениями: "
        "{skipped})\nВремя работы: {uptime}\nОтвечено на вопросов: {answered}\n"
        "Вопросов без ответа в документах: {not_found}",
        "kk": "Құжаттар: {documents} (сөйлемдер: {sentences}; өткізілген не ескертуі бар файлдар: {skipped})\n"
        "Жұмыс уақыты: {uptime}\nЖауап берілген сұрақтар: {answered}\n"
        "Құжаттардан жауабы табылмаған сұрақтар: {not_found}",
    },
    "feedback_disabled": {
        "en": "Feedback is not recorded: CITEBOT_FEEDBACK_DB is empty.",
        "ru": "Отзывы не записываются: CITEBOT_FEEDBACK_DB пуст.",
        "kk": "Пікірлер жазылмайды: CITEBOT_FEEDBACK_DB бос.",
    },
    "feedback_summary": {
        "en": "Last {days} days: 👍 {up} · 👎 {down}",
        "ru": "За последние {days} дн.: 👍 {up} · 👎 {down}",
        "kk": "Соңғы {days} күнде: 👍 {up} · 👎 {down}",
    },
    "feedback_latest": {
        "en": "Latest 👎 (question — first source):",
        "ru": "Последние 👎 (вопрос — первый источник):",
        "kk": "Соңғы 👎 (сұрақ — бірінші дереккөз):",
    },
    "feedback_none": {
        "en": "No 👎 in this period.",
        "ru": "За этот период 👎 нет.",
        "kk": "Бұл кезеңде 👎 жоқ.",
    },
    "no_source": {"en": "no source", "ru": "без источника", "kk": "дереккөзсіз"},
    "gaps_heading": {
        "en": "Questions not found in the documents, most frequent first (times asked — question):",
        "ru": "Вопросы, ответа на которые нет в документах, сначала самые частые (сколько раз — вопрос):",
        "kk": "Құжаттардан жауабы табылмаған сұрақтар, ең жиілері басында (неше рет — сұрақ):",
    },
    "gaps_none": {
        "en": "Every question so far was found in the documents.",
        "ru": "Пока на все вопросы нашёлся ответ в документах.",
        "kk": "Әзірге барлық сұрақтың жауабы құжаттардан табылды.",
    },
    # ---- Telegram channels ----------------------------------------------------------------------
    "command_forget": {
        "en": "Admins: remove a channel post: /forget <t.me link>, or reply /forget to a forwarded post",
        "ru": "Для администраторов: удалить пост канала: /forget <ссылка t.me> или ответ /forget на пересланный пост",
        "kk": "Әкімшілерге: арна жазбасын жою: /forget <t.me сілтемесі> "
        "немесе қайта жіберілген жазбаға /forget деп жауап",
    },
    "stats_channels": {
        "en": "Channel posts: {channels}",
        "ru": "Постов каналов: {channels}",
        "kk": "Арна жазбалары: {channels}",
    },
    "forget_usage": {
        "en": "Telegram does not tell bots when a post is deleted. To remove one: "
        "/forget https://t.me/<channel>/<number>, or reply /forget to the post forwarded here.",
        "ru": "Telegram не сообщает ботам об удалении постов. Чтобы удалить пост: /forget https://t.me/<канал>/<номер> "
        "или ответьте /forget на пересланный сюда пост.",
        "kk": "Telegram боттарға жазбаның жойылғанын хабарламайды. Жою үшін: /forget https://t.me/<арна>/<нөмір> "
        "немесе мұнда қайта жіберілген жазбаға /forget деп жауап беріңіз.",
    },
    "forget_missing": {
        "en": "No document of the post {link} is in the corpus.",
        "ru": "Документа поста {link} в корпусе нет.",
        "kk": "{link} жазбасының құжаты корпуста жоқ.",
    },
    "forget_removed": {
        "en": "Removed {link}: {paths}.",
        "ru": "Удалён пост {link}: {paths}.",
        "kk": "{link} жазбасы жойылды: {paths}.",
    },
    "forward_added": {
        "en": "Added the post {link} ({path}); it can be asked about within seconds.",
        "ru": "Пост {link} добавлен ({path}); через несколько секунд по нему можно задавать вопросы.",
        "kk": "{link} жазбасы қосылды ({path}); бірнеше секундтан кейін ол бойынша сұрақ қоюға болады.",
    },
    "forward_not_added": {
        "en": "The post {link} was not added: {reason}.",
        "ru": "Пост {link} не добавлен: {reason}.",
        "kk": "{link} жазбасы қосылмады: {reason}.",
    },
    "channel_joined": {
        "en": "I am now {status} of the channel {title} ({chat_id}). Its new posts become documents; older ones "
        "come in with citebot import-telegram (Telegram gives bots no history).",
        "ru": "Теперь я {status} канала {title} ({chat_id}). Его новые посты станут документами; старые "
        "добавляются командой citebot import-telegram (Telegram не даёт ботам историю).",
        "kk": "Мен енді {title} ({chat_id}) арнасының {status} мәртебесіндемін. Оның жаңа жазбалары құжатқа "
        "айналады; ескілері citebot import-telegram арқылы қосылады (Telegram боттарға тарихты бермейді).",
    },
    "channel_left": {
        "en": "I am no longer an administrator of the channel {title} ({chat_id}) (now: {status}): its new posts "
        "are not read. The posts already in the corpus stay.",
        "ru": "Я больше не администратор канала {title} ({chat_id}) (теперь: {status}): новые посты не читаются. "
        "Уже добавленные посты остаются.",
        "kk": "Мен енді {title} ({chat_id}) арнасының әкімшісі емеспін (қазір: {status}): жаңа жазбалар "
        "оқылмайды. Корпустағы жазбалар қалады.",
    },
    "channel_file_too_large": {
        "en": "The file {name} ({size:.1f} MB) of the post {link} was not added: Telegram lets bots download "
        "20 MB at most. Its text was added.",
        "ru": "Файл {name} ({size:.1f} МБ) поста {link} не добавлен: Telegram даёт ботам скачивать не больше "
        "20 МБ. Текст поста добавлен.",
        "kk": "{link} жазбасының {name} файлы ({size:.1f} МБ) қосылмады: Telegram боттарға 20 МБ-тан "
        "артық жүктеуге рұқсат бермейді. Жазбаның мәтіні қосылды.",
    },
}


def language(code: str | None) -> str:
    """The interface language for a Telegram language_code such as "ru" or "kk-KZ" (English otherwise)."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT


def language_of_text(question: str) -> str:
    """The interface language for a question where no language_code is known: English, Russian or Kazakh.

    Told by the letters, not the classifier: loading its model costs a process most of a second, and the
    script (and Kazakh's own letters) settles these three.
    """
    return script_language(question)


def text(key: str, lang: str | None = DEFAULT, /, **values: object) -> str:
    """The text `key` in the language `lang` (a code as Telegram sends it), filled with `values`."""
    variants = TEXTS[key]
    template = variants.get(language(lang), variants[DEFAULT])
    return template.format(**values) if values else template
